import type { LanguageModel } from "@llm/layers";
import { previewJson, type Tensor } from "@llm/tensor";
import { SamplingError } from "./errors.js";
import { bool, int32, lastLogits } from "./model_step.js";
import { checkModelLogits, describeValue, OptionChecker } from "./options.js";
import { createSampler, type SamplingOptions } from "./sampler.js";
import type { TextCodec } from "./text.js";

/** GLM's special token ids. `masks` maps each blank marker ("[MASK]", "[gMASK]", "[sMASK]") to its id. */
export interface GlmTokens {
  readonly masks: Readonly<Record<string, number>>;
  readonly sop: number;
  readonly eop: number;
}

/** Reads GLM's special tokens from a config's `special_tokens` ({ MASK, gMASK, sMASK, sop, eop }). */
export function glmTokensFromConfig(config: Record<string, unknown>): GlmTokens {
  const special = config.special_tokens as Record<string, unknown> | undefined;
  const isId = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const id = (name: string): number | undefined => (isId(special?.[name]) ? (special![name] as number) : undefined);
  const sop = id("sop");
  const eop = id("eop");
  if (!special || sop === undefined || eop === undefined || id("MASK") === undefined) {
    throw new SamplingError(
      `glmTokensFromConfig: expected config.special_tokens with integer ids >= 0 for MASK, sop and eop, found ${previewJson(special)}`,
    );
  }
  const masks: Record<string, number> = {};
  for (const name of ["MASK", "gMASK", "sMASK"]) if (id(name) !== undefined) masks[`[${name}]`] = id(name)!;
  return { masks, sop, eop };
}

export interface BlankInfillingOptions extends SamplingOptions {
  tokens: GlmTokens;
  /** Longest span generated for one blank when [eop] does not come (default 32). */
  maxSpanTokens?: number;
  /** [eop] is not allowed before a span has this many tokens (default 0: a blank may stay empty). */
  minSpanTokens?: number;
}

export interface FilledBlanks {
  /** Part A with every blank replaced by its span. */
  readonly ids: number[];
  /** The generated span of each blank, left to right ([eop] not included). */
  readonly spans: number[][];
}

/**
 * GLM blank infilling: Part A (the ids with blanks) is read with bidirectional attention; then each
 * blank, left to right, is filled autoregressively in Part B: [sop] and each new token sit at the
 * blank's position with block positions 1, 2, 3, ..., attend to Part A and all of Part B so far,
 * and the span ends at [eop]. Earlier spans stay in the cache, as GLM conditions later blanks on them.
 */
export async function fillBlanks(model: LanguageModel, ids: readonly number[], options: BlankInfillingOptions): Promise<FilledBlanks> {
  const spans: number[][] = [];
  for await (const step of streamBlanks(model, ids, options)) {
    if (step.blank === spans.length) spans.push([]);
    if (step.id !== null) spans[step.blank]!.push(step.id);
  }
  const maskIds = new Set(Object.values(options.tokens.masks));
  const filled: number[] = [];
  let k = 0;
  for (const id of ids) {
    if (maskIds.has(id)) filled.push(...(spans[k++] ?? []));
    else filled.push(id);
  }
  return { ids: filled, spans };
}

/** The steps of fillBlanks: each blank announces itself with id null, then yields its span's ids. */
export async function* streamBlanks(
  model: LanguageModel,
  ids: readonly number[],
  options: BlankInfillingOptions,
): AsyncGenerator<{ blank: number; id: number | null }, void, undefined> {
  const check = new OptionChecker("fillBlanks", options);
  check.integer("maxSpanTokens", 1);
  check.integer("minSpanTokens", 0);
  checkGlmTokens(options.tokens);
  const { sop, eop } = options.tokens;
  const maskIds = new Set(Object.values(options.tokens.masks));
  const blanks = ids.flatMap((id, i) => (maskIds.has(id) ? [i] : []));
  const maxSpan = options.maxSpanTokens ?? 32;
  const minSpan = options.minSpanTokens ?? 0;
  if (blanks.length === 0) {
    throw new SamplingError(`fillBlanks: expected at least one blank (ids ${[...maskIds].join("/")}) in the input, found none`);
  }
  // Runs after every other processor, so nothing can bring [eop] back before minSpanTokens.
  let eopBanned = false;
  const banEop = (row: Float32Array): Float32Array => {
    if (!eopBanned) return row;
    const out = Float32Array.from(row);
    out[eop] = -Infinity;
    return out;
  };
  const sampler = createSampler({ ...options, processors: [...(options.processors ?? []), banEop] });
  const cache = model.createCache();
  const history = [...ids];
  try {
    // Part A: positions 0..n-1, block position 0, every token sees every token.
    const n = ids.length;
    await step(model, cache, [...ids], [...ids.keys()], new Array<number>(n).fill(0), n);
    for (let b = 0; b < blanks.length; b++) {
      yield { blank: b, id: null };
      let token = sop;
      for (let k = 1; k <= maxSpan; k++) {
        const [row] = await step(model, cache, [token], [blanks[b]!], [k], cache.length + 1);
        eopBanned = k <= minSpan;
        checkModelLogits(`fillBlanks: blank ${b}`, row!, k - 1, 0);
        const next = sampler.next(row!, history);
        if (next === eop) break;
        history.push(next);
        yield { blank: b, id: next };
        token = next;
      }
    }
  } finally {
    cache.dispose();
  }
}

/** One forward of `ids` with GLM 2D positions; all keys so far are visible (Part A, then causal Part B). */
async function step(
  model: LanguageModel,
  cache: ReturnType<LanguageModel["createCache"]>,
  ids: number[],
  positions: number[],
  blockPositions: number[],
  keys: number,
): Promise<Float32Array[]> {
  const s = ids.length;
  const tensors: Tensor[] = [
    int32(ids, [1, s]),
    int32([...positions, ...blockPositions], [1, 2, s]),
    bool(new Uint8Array(s * keys).fill(1), [1, s, keys]),
  ];
  try {
    return await lastLogits(model, tensors[0]!, { cache, positionIds: tensors[1]!, attentionMask: tensors[2]! });
  } finally {
    for (const t of tensors) t.dispose();
  }
}

/**
 * Text-level infilling: `text` holds blank markers such as "[MASK]" (the keys of options.tokens.masks);
 * the pieces between them are encoded with the tokenizer, the blanks filled, and the whole decoded.
 */
export async function fillBlanksText(
  model: LanguageModel,
  tokenizer: TextCodec,
  text: string,
  options: BlankInfillingOptions,
): Promise<{ text: string; spans: string[] }> {
  const markers = Object.keys(options.tokens.masks);
  if (markers.length === 0) throw new SamplingError('fillBlanksText: options.tokens.masks is empty; expected e.g. { "[MASK]": id }');
  const pattern = new RegExp(`(${markers.map(escapeRegExp).join("|")})`);
  const ids: number[] = [];
  for (const piece of text.split(pattern)) {
    if (piece === "") continue;
    const id = options.tokens.masks[piece];
    if (id !== undefined && markers.includes(piece)) ids.push(id);
    else ids.push(...Array.from(tokenizer.encode(piece)));
  }
  const filled = await fillBlanks(model, ids, options);
  return { text: tokenizer.decode(filled.ids), spans: filled.spans.map((s) => tokenizer.decode(s)) };
}

/** options.tokens as glmTokensFromConfig makes it: integer sop and eop, and masks of integer ids. */
function checkGlmTokens(tokens: unknown): asserts tokens is GlmTokens {
  const t = tokens as Partial<GlmTokens> | undefined;
  const isId = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  const masks = t?.masks as Record<string, unknown> | undefined;
  if (
    typeof t !== "object" ||
    t === null ||
    !isId(t.sop) ||
    !isId(t.eop) ||
    typeof masks !== "object" ||
    masks === null ||
    !Object.values(masks).every(isId)
  ) {
    throw new SamplingError(
      `fillBlanks: option tokens must be { masks: { "[MASK]": id, ... }, sop: id, eop: id } with integer ids (see glmTokensFromConfig), found ${describeValue(tokens)}`,
    );
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
