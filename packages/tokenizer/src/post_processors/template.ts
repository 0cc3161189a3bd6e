import { MAX_TOKEN_ID, TokenizerError, describe } from "../utils/errors.js";
import type { PostProcessor } from "./post_processor.js";

type Piece = { SpecialToken: { id: string; type_id?: number } } | { Sequence: { id: "A" | "B"; type_id?: number } };
type SpecialTokens = Record<string, { id: string; ids: number[]; tokens: string[] }>;

/** Hugging Face TemplateProcessing: e.g. `<bos> $A` for one sequence, `<bos> $A <bos> $B` for a pair. */
export class TemplateProcessing implements PostProcessor {
  private readonly specialIds: Map<string, number[]>;
  /**
   * Every part is checked here, where the file is read, so that encode never meets a piece it
   * cannot place: pieces are {"SpecialToken": {"id": name}} naming an entry of special_tokens, or
   * {"Sequence": {"id": "A"}} ("B" too in `pair`); each special token's ids are integer token ids.
   */
  constructor(
    readonly single: Piece[],
    readonly pair: Piece[],
    readonly specialTokens: SpecialTokens,
    path = "post_processor",
  ) {
    this.specialIds = readSpecialTokens(specialTokens, `${path}.special_tokens`);
    for (const [name, list, sequences] of [
      ["single", single, ["A"]],
      ["pair", pair, ["A", "B"]],
    ] as const) {
      if (!Array.isArray(list)) throw new TokenizerError(`${path}.${name}: expected an array of pieces, found ${describe(list)}`);
      list.forEach((p, i) => checkPiece(p, `${path}.${name}[${i}]`, sequences, this.specialIds, path));
    }
  }
  process(a: number[], b: number[] | null, addSpecialTokens: boolean): number[] {
    if (!addSpecialTokens) return b ? a.concat(b) : a;
    const out: number[] = [];
    for (const p of b ? this.pair : this.single) {
      if ("SpecialToken" in p) out.push(...this.specialIds.get(p.SpecialToken.id)!);
      else for (const id of p.Sequence.id === "A" ? a : b!) out.push(id);
    }
    return out;
  }
  /** Every id this processor can add. */
  addedIds(): number[] {
    return [...this.specialIds.values()].flat();
  }
  toJSON() {
    return { type: "TemplateProcessing", single: this.single, pair: this.pair, special_tokens: this.specialTokens };
  }
}

function readSpecialTokens(json: unknown, path: string): Map<string, number[]> {
  if (json === undefined || json === null) return new Map();
  if (typeof json !== "object" || Array.isArray(json)) throw new TokenizerError(`${path}: expected an object, found ${describe(json)}`);
  const out = new Map<string, number[]>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    const e = entry as { ids?: unknown } | null;
    if (typeof e !== "object" || e === null || !Array.isArray(e.ids))
      throw new TokenizerError(`${path}.${name}: expected {"id": ..., "ids": [...], "tokens": [...]}, found ${describe(entry)}`);
    e.ids.forEach((id, k) => {
      if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID)
        throw new TokenizerError(`${path}.${name}.ids[${k}]: expected a token id in [0, ${MAX_TOKEN_ID}], found ${describe(id)}`);
    });
    out.set(name, e.ids as number[]);
  }
  return out;
}

function checkPiece(p: unknown, where: string, sequences: readonly string[], special: Map<string, number[]>, path: string): void {
  const piece = p as Record<string, { id?: unknown; type_id?: unknown } | undefined> | null;
  const body = piece && typeof piece === "object" ? (piece.SpecialToken ?? piece.Sequence) : undefined;
  if (!piece || typeof body !== "object" || body === null || Object.keys(piece).length !== 1)
    throw new TokenizerError(`${where}: expected {"SpecialToken": {"id": ...}} or {"Sequence": {"id": "A"}}, found ${describe(p)}`);
  if (body.type_id !== undefined && (typeof body.type_id !== "number" || !Number.isInteger(body.type_id) || body.type_id < 0))
    throw new TokenizerError(`${where}.type_id: expected a non-negative integer, found ${describe(body.type_id)}`);
  if ("SpecialToken" in piece) {
    if (typeof body.id !== "string" || !special.has(body.id))
      throw new TokenizerError(`${where}: special token ${describe(body.id)} is not in ${path}.special_tokens`);
  } else if (typeof body.id !== "string" || !sequences.includes(body.id)) {
    throw new TokenizerError(`${where}.Sequence.id: expected ${sequences.map((s) => `"${s}"`).join(" or ")}, found ${describe(body.id)}`);
  }
}
