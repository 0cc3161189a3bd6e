import { TokenizerError, describe } from "../utils/errors.js";
import { AddedTokenMatcher, type Section } from "../added_vocabulary.js";
import { ByteLevelPreTokenizer } from "../pre_tokenizers/byte_level.js";
import { BYTE_TO_CHAR, utf8Encode } from "../utils/byte_level.js";
import { fromTokenizerJson } from "../serialization/tokenizer_json.js";
import type { Tokenizer } from "../tokenizer.js";
import { PairHeap } from "./pair_heap.js";

export interface TrainBPEOptions {
  /** size of the final vocab, special and whitespace tokens included */
  vocabSize: number;
  /** pairs seen fewer times than this are never merged; default 2 */
  minFrequency?: number;
  /** special tokens, given the first ids (e.g. ["<|endoftext|>"]) */
  specialTokens?: string[];
  /**
   * "gpt2": GPT-2's byte-level pre-tokenization. "neox": the same plus GPT-NeoX-20B's tokens for
   * runs of 2..24 spaces, so indentation in code is one token. Default "gpt2".
   */
  style?: "gpt2" | "neox";
  /** longest token in bytes; default unlimited */
  maxTokenLength?: number;
}

const NEOX_SPACE_RUNS = Array.from({ length: 23 }, (_, i) => " ".repeat(24 - i)); // 24 .. 2 spaces

/**
 * Trains a byte-level BPE on `texts` and returns the tokenizer; `tokenizer.toJSON()` is a
 * tokenizer.json that Hugging Face tokenizers loads. The vocab is the special tokens, the 256
 * byte tokens, then one token per merge; the most frequent pair is merged first (ties: the pair
 * of smaller ids).
 */
export function trainBPE(texts: Iterable<string>, options: TrainBPEOptions): Tokenizer {
  const vocabSize = options.vocabSize;
  const specials = options.specialTokens ?? [];
  const style = options.style ?? "gpt2";
  const minFrequency = options.minFrequency ?? 2;
  const maxLen = options.maxTokenLength ?? Infinity;
  if (style !== "gpt2" && style !== "neox")
    throw new TokenizerError(`trainBPE: options.style: expected "gpt2" or "neox", found ${describe(style)}`);
  const spaceRuns = style === "neox" ? NEOX_SPACE_RUNS : [];
  const minSize = specials.length + 256 + spaceRuns.length;
  if (!Number.isInteger(vocabSize) || vocabSize < minSize)
    throw new TokenizerError(
      `trainBPE: options.vocabSize: expected an integer of at least ${minSize} (special tokens + 256 bytes${spaceRuns.length ? " + 23 space runs" : ""}), found ${describe(vocabSize)}`,
    );
  if (new Set(specials).size !== specials.length)
    throw new TokenizerError(`trainBPE: options.specialTokens: expected distinct tokens, found ${JSON.stringify(specials)}`);

  // 1. count pre-tokenized words
  const matcher = new AddedTokenMatcher();
  [...specials, ...spaceRuns].forEach((content, i) =>
    matcher.add({ id: i, content, special: i < specials.length, normalized: false, lstrip: false, rstrip: false, singleWord: false }),
  );
  const pre = new ByteLevelPreTokenizer(false, true);
  const wordCounts = new Map<string, number>();
  for (const text of texts) {
    if (typeof text !== "string") throw new TokenizerError(`trainBPE: texts: expected strings, found ${describe(text)}`);
    const sections: Section[] = [];
    matcher.split(text, true, sections);
    const pieces: string[] = [];
    for (const s of sections) if (typeof s === "string") pre.split(s, pieces);
    for (const p of pieces) wordCounts.set(p, (wordCounts.get(p) ?? 0) + 1);
  }

  // 2. initial vocab: specials, then the 256 bytes
  const vocab: string[] = [...specials];
  const byteId = new Int32Array(256);
  for (let b = 0; b < 256; b++) {
    byteId[b] = vocab.length;
    vocab.push(BYTE_TO_CHAR[b]!);
  }
  const tokenBytes: number[] = vocab.map((_, i) => (i < specials.length ? 0 : 1));
  const words: Int32Array[] = [];
  const freqs: number[] = [];
  for (const [w, c] of wordCounts) {
    const bytes = utf8Encode(w);
    words.push(Int32Array.from(bytes, (b) => byteId[b]!));
    freqs.push(c);
  }

  // 3. pair statistics: count and the words each pair occurs in
  const KEY = 2 ** 21;
  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, Set<number>>();
  const addPairs = (w: number, sign: number, touched: Set<number>) => {
    const sym = words[w]!;
    const f = freqs[w]! * sign;
    for (let i = 0; i + 1 < sym.length; i++) {
      const key = sym[i]! * KEY + sym[i + 1]!;
      pairCount.set(key, (pairCount.get(key) ?? 0) + f);
      if (sign > 0) {
        let set = pairWords.get(key);
        if (!set) pairWords.set(key, (set = new Set()));
        set.add(w);
      }
      touched.add(key);
    }
  };
  const heap = new PairHeap();
  const initial = new Set<number>();
  for (let w = 0; w < words.length; w++) addPairs(w, 1, initial);
  for (const key of initial) heap.push(pairCount.get(key)!, Math.floor(key / KEY), key % KEY);

  // 4. merge the most frequent pair until the vocab is full
  const merges: [string, string][] = [];
  const target = vocabSize - spaceRuns.length;
  while (vocab.length < target && heap.size > 0) {
    const [count, a, b] = heap.pop();
    const key = a * KEY + b;
    if (pairCount.get(key) !== count) continue; // stale entry
    if (count < minFrequency || count <= 0) break;
    if (tokenBytes[a]! + tokenBytes[b]! > maxLen) {
      pairCount.set(key, -1); // never again
      continue;
    }
    const id = vocab.length;
    vocab.push(vocab[a]! + vocab[b]!);
    tokenBytes.push(tokenBytes[a]! + tokenBytes[b]!);
    merges.push([vocab[a]!, vocab[b]!]);
    const touched = new Set<number>();
    for (const w of pairWords.get(key) ?? []) {
      const sym = words[w]!;
      let has = false;
      for (let i = 0; i + 1 < sym.length; i++) if (sym[i] === a && sym[i + 1] === b) has = true;
      if (!has) continue;
      addPairs(w, -1, touched);
      const next: number[] = [];
      for (let i = 0; i < sym.length; i++) {
        if (i + 1 < sym.length && sym[i] === a && sym[i + 1] === b) {
          next.push(id);
          i++;
        } else next.push(sym[i]!);
      }
      words[w] = Int32Array.from(next);
      addPairs(w, 1, touched);
    }
    pairWords.delete(key);
    for (const k of touched) {
      const c = pairCount.get(k)!;
      if (c > 0 && k !== key) heap.push(c, Math.floor(k / KEY), k % KEY);
    }
  }

  // 5. the tokenizer, through its tokenizer.json form
  const vocabJson: Record<string, number> = {};
  vocab.forEach((t, i) => (vocabJson[t] = i));
  const added = specials.map((content, id) => ({
    id,
    content,
    special: true,
    normalized: false,
    lstrip: false,
    rstrip: false,
    single_word: false,
  }));
  spaceRuns.forEach((content) => {
    const id = vocab.length;
    vocab.push(content);
    added.push({ id, content, special: false, normalized: true, lstrip: false, rstrip: false, single_word: false });
  });
  return fromTokenizerJson(
    {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      post_processor: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: false,
        vocab: vocabJson,
        merges,
      },
    },
    "trainBPE",
  );
}
