import type { Tokenizer } from "../tokenizer.js";
import { TokenizerError } from "../utils/errors.js";
import { TOKEN_TYPE, addedTokensOf, vocabOf } from "./gguf_vocab.js";
import { fromTokenizerJson } from "./tokenizer_json.js";

/**
 * SentencePiece BPE vocabularies in GGUF (tokenizer.ggml.model "llama": LLaMA 1 and 2, Mistral,
 * TinyLlama, Gemma), both ways.
 *
 * GGUF keeps SentencePiece's own form: pieces with "▁" for a space, a score per piece, a type per
 * piece (byte, control, ...), and no merges. llama.cpp encodes by repeatedly merging the adjacent
 * pair whose joined text is a piece of the highest score. Reading, we turn the scores into BPE
 * merges as Hugging Face's converter does for LLaMA's tokenizer.model (every split of a piece into
 * two pieces, ranked by the piece's score), so the tokenizer is an ordinary byte-fallback BPE with
 * LLaMA's tokenizer.json settings: the same ids as SentencePiece and llama.cpp where pieces' scores
 * differ (SentencePiece-trained vocabularies: every normal piece has its own). Writing, a
 * byte-fallback BPE's merge ranks become the scores llama.cpp merges by.
 */

const SPACE = "▁";
const BYTE_PIECE = /^<0x[0-9A-F]{2}>$/;

/**
 * BPE merges from SentencePiece scores: for each piece, each split into two pieces of the
 * vocabulary, ordered by the piece's score (highest first), then the piece's id, then the longer
 * left part first (Hugging Face's SentencePieceExtractor / generate_merges).
 */
export function mergesFromScores(tokens: readonly string[], scores: ArrayLike<number>): [string, string][] {
  const idOf = new Map<string, number>();
  tokens.forEach((t, id) => {
    if (!idOf.has(t)) idOf.set(t, id);
  });
  const found: { left: string; right: string; score: number; id: number }[] = [];
  tokens.forEach((piece, id) => {
    if (idOf.get(piece) !== id) return; // a repeated piece merges as its first id
    const chars = Array.from(piece); // splits between code points, never inside a surrogate pair
    let offset = 0;
    for (let i = 1; i < chars.length; i++) {
      offset += chars[i - 1]!.length;
      const left = piece.slice(0, offset);
      const right = piece.slice(offset);
      if (idOf.has(left) && idOf.has(right)) found.push({ left, right, score: scores[id]!, id });
    }
  });
  found.sort((a, b) => b.score - a.score || a.id - b.id || b.left.length - a.left.length);
  return found.map((m) => [m.left, m.right]);
}

/** A tokenizer from a GGUF file's SentencePiece ("llama") vocabulary, as llama.cpp reads it. */
export function fromSentencePieceGGUF(metadata: ReadonlyMap<string, unknown>, source: string): Tokenizer {
  const tokens = metadata.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string"))
    throw new TokenizerError(`${source}: tokenizer.ggml.tokens: expected an array of strings`);
  const scores = metadata.get("tokenizer.ggml.scores");
  if (!Array.isArray(scores) || scores.length !== tokens.length || !scores.every((s) => typeof s === "number")) {
    throw new TokenizerError(
      `${source}: tokenizer.ggml.scores: a SentencePiece ("llama") vocabulary needs one number per token (${tokens.length}), found ${
        Array.isArray(scores) ? `an array of ${scores.length}` : JSON.stringify(scores)
      }`,
    );
  }
  const types = (metadata.get("tokenizer.ggml.token_type") as number[] | undefined) ?? [];
  const typeOf = (id: number): number => types[id] ?? TOKEN_TYPE.NORMAL;
  const prefix = metadata.get("tokenizer.ggml.add_space_prefix") ?? true; // llama.cpp's default for SentencePiece
  if (typeof prefix !== "boolean") throw new TokenizerError(`${source}: tokenizer.ggml.add_space_prefix: expected a boolean`);

  const unkId = metadata.get("tokenizer.ggml.unknown_token_id") ?? tokens.findIndex((_, id) => typeOf(id) === TOKEN_TYPE.UNKNOWN);
  if (typeof unkId !== "number" || unkId >= tokens.length)
    throw new TokenizerError(
      `${source}: tokenizer.ggml.unknown_token_id: expected a token id below ${tokens.length}, found ${JSON.stringify(unkId)}`,
    );
  const byteFallback = tokens.some((t, id) => typeOf(id) === TOKEN_TYPE.BYTE || BYTE_PIECE.test(t));
  const vocab = vocabOf(tokens); // LLaMA 2 has the pieces "constructor" and "__proto__"
  const added = addedTokensOf(tokens, typeOf, true);
  const replaceSpaces = { type: "Replace", pattern: { String: " " }, content: SPACE };
  return fromTokenizerJson(
    {
      version: "1.0",
      added_tokens: added,
      // llama.cpp puts a space before each stretch of text (after every special token too), as this normalizer does
      normalizer: prefix ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: SPACE }, replaceSpaces] } : replaceSpaces,
      pre_tokenizer: null,
      post_processor: null,
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Replace", pattern: { String: SPACE }, content: " " },
          { type: "ByteFallback" },
          { type: "Fuse" },
          ...(prefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: unkId >= 0 ? tokens[unkId] : null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: byteFallback,
        vocab,
        merges: mergesFromScores(tokens, scores as number[]),
      },
    },
    `${source} (tokenizer.ggml.*)`,
  );
}

/** The parts of a tokenizer.json that a SentencePiece-style BPE has (LLaMA 2's, Gemma's). */
interface SentencePieceJson {
  model: { type?: string; byte_fallback?: boolean; unk_token?: string | null; merges: (string | [string, string])[] };
  normalizer: unknown;
  pre_tokenizer: unknown;
  added_tokens: { id: number; content: string; special: boolean }[];
}

/**
 * Whether a tokenizer.json is a SentencePiece-style BPE llama.cpp can hold as "llama", and whether
 * it puts a space before the text (add_space_prefix); null when it is not one.
 */
export function sentencePieceStyle(json: SentencePieceJson): { addSpacePrefix: boolean } | null {
  if (json.model.type !== "BPE" || json.model.byte_fallback !== true) return null;
  const n = json.normalizer as { type?: string; normalizers?: unknown[] } | null;
  const parts = (n?.type === "Sequence" ? (n.normalizers ?? []) : n ? [n] : []) as {
    type?: string;
    prepend?: string;
    pattern?: { String?: string };
    content?: string;
  }[];
  const isReplace = (p: (typeof parts)[number] | undefined) => p?.type === "Replace" && p.pattern?.String === " " && p.content === SPACE;
  let pre = json.pre_tokenizer as {
    type?: string;
    replacement?: string;
    prepend_scheme?: string;
    add_prefix_space?: boolean;
    pattern?: { String?: string };
  } | null;
  // Gemma's split on " " after the normalizer has made every space "▁" splits nothing
  if (pre?.type === "Split" && pre.pattern?.String === " " && parts.some(isReplace)) pre = null;
  if (pre === null && parts.length === 2 && parts[0]!.type === "Prepend" && parts[0]!.prepend === SPACE && isReplace(parts[1]))
    return { addSpacePrefix: true };
  if (pre === null && parts.length === 1 && isReplace(parts[0])) return { addSpacePrefix: false };
  // the older form: a Metaspace pre-tokenizer and no normalizer
  if (parts.length === 0 && pre?.type === "Metaspace" && pre.replacement === SPACE)
    return { addSpacePrefix: pre.prepend_scheme !== undefined ? pre.prepend_scheme !== "never" : pre.add_prefix_space !== false };
  return null;
}

/**
 * The tokenizer.ggml.* vocabulary of a SentencePiece-style BPE: pieces as they are, types, and
 * scores that make llama.cpp merge in the tokenizer's merge order (a piece made by the merge of
 * rank r scores -r; a piece no merge makes scores below every merge, as SentencePiece's single
 * characters do; bytes, control and unknown pieces 0).
 */
export function sentencePieceVocabulary(
  tokenizer: Tokenizer,
  json: SentencePieceJson,
): { tokens: string[]; scores: number[]; types: number[]; unkId: number | undefined } {
  const size = tokenizer.vocabSize;
  const tokens: string[] = new Array(size);
  for (let id = 0; id < size; id++) {
    const token = tokenizer.idToToken(id);
    if (token === undefined) throw new TokenizerError(`toGGUFMetadata: GGUF needs ids 0..${size - 1} without gaps; id ${id} has no token`);
    tokens[id] = token;
  }
  const made = new Map<string, number>();
  json.model.merges.forEach((m, rank) => {
    const [left, right] = typeof m === "string" ? splitMerge(m) : m;
    const piece = left + right;
    if (!made.has(piece)) made.set(piece, rank);
  });
  const unk = json.model.unk_token ?? undefined;
  const unkId = unk === undefined ? undefined : tokenizer.tokenToId(unk);
  const types = tokens.map((t, id): number =>
    id === unkId ? TOKEN_TYPE.UNKNOWN : BYTE_PIECE.test(t) ? TOKEN_TYPE.BYTE : TOKEN_TYPE.NORMAL,
  );
  for (const t of json.added_tokens) if (t.id !== unkId) types[t.id] = t.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  const scores = tokens.map((t, id) => {
    if (types[id] !== TOKEN_TYPE.NORMAL && types[id] !== TOKEN_TYPE.USER_DEFINED) return 0;
    const rank = made.get(t);
    return rank !== undefined ? -rank : -(json.model.merges.length + id);
  });
  return { tokens, scores, types, unkId };
}

/** "a b" -> ["a", "b"]: a merge in tokenizer.json's older string form (SentencePiece pieces hold no spaces). */
function splitMerge(m: string): [string, string] {
  const i = m.indexOf(" ", 1);
  return [m.slice(0, i), m.slice(i + 1)];
}
