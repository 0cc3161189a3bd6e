// generateText decodes incrementally (a tokenizer's decodeStream(), or a window of ids): the pieces
// must be those of decoding the whole text again at every step, and the work linear in the output.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { fromTokenizerJson, type DecodeOptions, type Tokenizer } from "@llm/tokenizer";
import type { LanguageModel } from "@llm/layers";
import { Rng } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { collect, generateText, type GenerateTextOptions, type TextCodec } from "../src/index.js";
import { fullRedecodeText } from "./full_redecode.js";
import { scriptedModel } from "./scripted_model.js";

const packageRoot = fileURLToPath(new URL("..", import.meta.url));
function lenmlFile(model: string): string {
  return readFileSync(join(packageRoot, "node_modules", "@lenml", `tokenizer-${model}`, "models", "tokenizer.json"), "utf8");
}

const llama3 = fromTokenizerJson(lenmlFile("llama3"));
const gemma3Json = lenmlFile("gemma3");
/**
 * Gemma 3's vocabulary with Llama 2's normalizer and decoder: "▁" before the text, no <bos>, and
 * a decoder that strips the text's first space, so a token decodes differently at the start of
 * the text than after the prompt (the case a decoder without the prompt as context gets wrong).
 */
function llama2Style(json: string): Tokenizer {
  const root = JSON.parse(json);
  root.normalizer = { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, root.normalizer] };
  root.decoder.decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
  root.post_processor = null;
  return fromTokenizerJson(root);
}
const TOKENIZERS: [string, Tokenizer][] = [
  ["llama3 (byte-level)", llama3],
  ["gemma3 (byte fallback, Metaspace-style decoder)", fromTokenizerJson(gemma3Json)],
  ["gemma3 with Llama 2's normalizer and decoder (leading space stripped)", llama2Style(gemma3Json)],
];

/** The same tokenizer without decodeStream: generateText falls back to decoding windows of ids. */
function withoutStream(tok: Pick<Tokenizer, "encode" | "decode">): TextCodec {
  return { encode: (text) => tok.encode(text), decode: (ids) => tok.decode(ids) };
}

const PROMPTS = ["Hello", "The café", "中文", "😀", "ends in a space ", "def f():\n   "];
const CONTINUATIONS = [
  " world, how are you?",
  "é😀👩‍👩‍👧‍👦 中文 🇯🇵 ₿ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 done",
  "  spaces   and\ttabs\n\nnew lines    ",
  "Ångström coöperate ١٢٣ नमस्ते Привет ᚠᛇᚻ ꦲꦏ",
  "a\u0301 ﬁ 👍🏽❤️ 🧑🏻‍💻 \u{1F9EC}\u{1FAE0}",
];

/** generateText's shape with a text prompt (the reference implementation takes only text). */
type TextGenerator = (...args: [LanguageModel, TextCodec, string, GenerateTextOptions?]) => AsyncGenerator<string, void, undefined>;

/** The pieces one implementation streams when the model's greedy output is `script`. */
async function piecesOf(
  impl: TextGenerator,
  codec: TextCodec,
  prompt: string,
  script: number[],
  options: GenerateTextOptions = {},
): Promise<string[]> {
  // The model and the implementation see the ids this run uses renumbered 0, 1, 2, ..., so the
  // scripted model's logits are short rows (a 262K-token vocabulary makes every step slow).
  const real = [...new Set([...codec.encode(prompt), ...script])];
  const index = new Map(real.map((id, i) => [id, i]));
  const renumbered: TextCodec = {
    encode: (text) => Array.from(codec.encode(text), (id) => index.get(id)!),
    decode: (ids) => codec.decode(ids.map((i) => real[i]!)),
  };
  if (codec.decodeStream) {
    renumbered.decodeStream = () => {
      const stream = codec.decodeStream!();
      return { push: (i) => stream.push(real[i]!), flush: () => stream.flush?.() ?? "" };
    };
  }
  const model = scriptedModel(
    script.map((id) => index.get(id)!),
    real.length,
  );
  return collect(impl(model, renumbered, prompt, { ...options, maxNewTokens: script.length }));
}

/** Full re-decoding's pieces, and checks that decodeStream and the windowed decode give the same. */
async function expectSamePieces(tok: Tokenizer, prompt: string, script: number[], options: GenerateTextOptions = {}): Promise<string[]> {
  const expected = await piecesOf(fullRedecodeText, tok, prompt, script, options);
  expect(await piecesOf(generateText, tok, prompt, script, options)).toEqual(expected);
  expect(await piecesOf(generateText, withoutStream(tok), prompt, script, options)).toEqual(expected);
  return expected;
}

describe.each(TOKENIZERS)("generateText on %s", (_, tok) => {
  const scripts = CONTINUATIONS.map((text) => tok.encode(text, { addSpecialTokens: false }));

  it("splits characters across tokens in these texts (what the tests below exercise)", () => {
    const broken = scripts.flat().filter((id) => tok.decode([id]).includes("\uFFFD"));
    expect(broken.length).toBeGreaterThan(5);
  });

  it("streams the pieces of full re-decoding after every prompt", async () => {
    for (const prompt of PROMPTS) {
      for (const script of scripts) {
        const pieces = await expectSamePieces(tok, prompt, script);
        expect(pieces.join("")).toBe(tok.decode([...tok.encode(prompt), ...script]).slice(tok.decode(tok.encode(prompt)).length));
      }
    }
  });

  it("stops, and holds back the start of a stop string, as full re-decoding does", async () => {
    for (const script of scripts) {
      const all = (await piecesOf(fullRedecodeText, tok, "Hello", script)).join("");
      const mid = Math.floor(all.length / 2);
      const stopSets = [
        [all.slice(mid, mid + 3)],
        [`${all.slice(mid, mid + 2)}\u0007`], // never found, but its start is: held back, then shown
        ["never found", all.slice(-2)],
        [all.slice(mid + 4, mid + 9), `${all.slice(mid + 1, mid + 3)}\u0007`, all.slice(mid + 2, mid + 4)],
      ];
      for (const stopStrings of stopSets) await expectSamePieces(tok, "Hello", script, { stopStrings });
    }
  });
});

describe("generateText on random byte-level ids", () => {
  it("streams the pieces of full re-decoding, broken and invalid UTF-8 included", async () => {
    for (let seed = 1; seed <= 3; seed++) {
      const rng = new Rng(seed);
      // half single-byte tokens (ids 0..255 in llama3, many of them bytes 0x80..0xff), half others
      const script = Array.from({ length: 200 }, () => (rng.uniform() < 0.5 ? rng.int(256) : rng.int(32000)));
      const all = (await expectSamePieces(llama3, "Hi", script)).join("");
      await expectSamePieces(llama3, "Hi", script, { stopStrings: [all.slice(150, 153), `${all.slice(80, 81)}\u0007`] });
    }
  });
});

/** A tokenizer that counts the ids it decodes (through decode, decodeBytes and its DecodeStreams). */
function countingTokenizer(tok: Tokenizer): { tokenizer: Tokenizer; decoded: () => number } {
  let decoded = 0;
  const tokenizer = new Proxy(tok, {
    get(target, prop, receiver) {
      if (prop === "decode" || prop === "decodeBytes") {
        const method = target[prop] as (ids: ArrayLike<number>, options?: DecodeOptions) => unknown;
        return (ids: ArrayLike<number>, options?: DecodeOptions) => {
          decoded += ids.length;
          return method.call(receiver, ids, options);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return { tokenizer, decoded: () => decoded };
}

describe.each(TOKENIZERS)("generateText's decoding work on %s", (_, tok) => {
  const script = tok.encode(CONTINUATIONS.join(" ").repeat(20), { addSpecialTokens: false }).slice(0, 500);

  it("decodes a bounded number of ids per token over 500 tokens, where full re-decoding's grow with the text", async () => {
    expect(script).toHaveLength(500);
    const perToken = async (codec: (counted: Tokenizer) => TextCodec, impl: TextGenerator = generateText) => {
      const { tokenizer, decoded } = countingTokenizer(tok);
      await piecesOf(impl, codec(tokenizer), "Hello", script);
      return decoded() / script.length;
    };
    const streamed = await perToken((t) => t);
    const windowed = await perToken(withoutStream);
    const full = await perToken(withoutStream, fullRedecodeText);
    expect(streamed).toBeLessThan(8);
    expect(windowed).toBeLessThan(16);
    expect(full).toBeGreaterThan(200); // about 500 / 2 ids per token, or twice that where decode counts its bytes too
  });
});
