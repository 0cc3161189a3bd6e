/**
 * GGUF names a byte-level BPE's pre-tokenizer by a label (tokenizer.ggml.pre) instead of storing
 * it; llama.cpp splits text by each label's list of regexes in turn (every piece of one split is
 * split again by the next, matches and the text between them both kept), then maps bytes as GPT-2
 * does. These are the lists of llama.cpp's llama-vocab.cpp for the labels below, as a Sequence of
 * isolating Splits before a pass-through ByteLevel; each label is checked against llama.cpp itself
 * (packages/models/test/gguf_pre_tokenizers.test.ts).
 */

const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
const LLAMA3 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BLOOM = " ?[^(\\s|.,!?…。，、।۔،)]+";
// llama.cpp writes tokenizer.json's \p{Lu}... classes as lookaheads over ASCII case (its regex engine has no \p{Lu})
const UPPER_THEN_LOWER = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+";
const LOWER_AFTER_UPPER = "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*";
const CONTRACTION = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?";
const TEKKEN = `${UPPER_THEN_LOWER}|${LOWER_AFTER_UPPER}|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;
const GPT4O = `${UPPER_THEN_LOWER}${CONTRACTION}|${LOWER_AFTER_UPPER}${CONTRACTION}|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

export interface PreTokenizerLabel {
  /** The regexes in turn; null: GPT-2's own (ByteLevel's built-in regex, which llama.cpp runs by hand). */
  readonly regexes: readonly string[] | null;
  /** A piece that is itself a token is not merged (llama.cpp sets it for Llama 3's labels). */
  readonly ignoreMerges: boolean;
  /** llama.cpp adds bos when the file does not say (add_bos_token): Llama 3's labels, with ignoreMerges. */
  readonly addsBos: boolean;
}

const label = (regexes: readonly string[] | null, llama3 = false): PreTokenizerLabel => ({
  regexes,
  ignoreMerges: llama3,
  addsBos: llama3,
});

export const PRE_TOKENIZERS: Readonly<Record<string, PreTokenizerLabel>> = {
  "gpt-2": label(null),
  mpt: label(null),
  "phi-2": label(null),
  olmo: label(null),
  jais: label(null),
  // no label, or "default": llama.cpp's own default list, not GPT-2's regex
  default: label(["[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]"]),
  "llama-bpe": label([LLAMA3], true),
  llama3: label([LLAMA3], true),
  "llama-v3": label([LLAMA3], true),
  falcon3: label([LLAMA3], true),
  pixtral: label([LLAMA3], true),
  "chatglm-bpe": label([LLAMA3]),
  dbrx: label([LLAMA3]),
  "smaug-bpe": label([LLAMA3]),
  qwen2: label([QWEN2]),
  stablelm2: label([QWEN2]),
  "deepseek-r1-qwen": label([QWEN2]),
  falcon: label(["[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2, "[0-9][0-9][0-9]"]),
  starcoder: label(["\\p{N}", GPT2]),
  refact: label(["\\p{N}", GPT2]),
  smollm: label(["\\p{N}", GPT2]),
  "command-r": label(["\\p{N}", GPT2]),
  codeshell: label(["\\p{N}", GPT2]),
  exaone: label(["\\p{N}", GPT2]),
  "minerva-7b": label(["\\p{N}", GPT2]),
  bloom: label([BLOOM]),
  "poro-chat": label([BLOOM]),
  "gpt3-finnish": label([BLOOM]),
  viking: label([BLOOM, "\\p{N}"]),
  tekken: label([TEKKEN]),
  "gpt-4o": label([GPT4O]),
  "deepseek-coder": label(["[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"]),
};

/** Every label we read. */
export const GGUF_PRE_TOKENIZER_LABELS: readonly string[] = Object.keys(PRE_TOKENIZERS);

/** Whether llama.cpp adds bos to text for a byte-level vocabulary with pre-tokenizer `label` when the file has no add_bos_token. */
export function ggufPreTokenizerAddsBos(label: string): boolean {
  return Object.hasOwn(PRE_TOKENIZERS, label) && PRE_TOKENIZERS[label]!.addsBos;
}

/** The labels toGGUFMetadata writes, by the one Split regex a tokenizer.json has ("gpt-2": ByteLevel's own). */
export const WRITTEN_LABELS: Readonly<Record<string, string>> = { [LLAMA3]: "llama-bpe", [QWEN2]: "qwen2" };

/** tokenizer.json's pre_tokenizer for a label. */
export function preTokenizerJson(pre: PreTokenizerLabel): Record<string, unknown> {
  if (pre.regexes === null) return { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    type: "Sequence",
    pretokenizers: [
      ...pre.regexes.map((Regex) => ({ type: "Split", pattern: { Regex }, behavior: "Isolated", invert: false })),
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  };
}
