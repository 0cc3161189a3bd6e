import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { fromGpt2Files, fromTiktoken, fromTokenizerJson, type Tokenizer, TokenizerError, trainBPE } from "../src/index.js";
import { isWellFormed } from "../src/utils/utf8_text.js";
import { outcome, report, SEED, tally } from "../../../tests/support/fuzz.js";

// Property tests of the tokenizer readers (tokenizer.json through the bytes reader and the object
// reader, GPT-2's vocab.json + merges.txt, tiktoken rank files): thousands of generated and mutated
// files, each ending in a tokenizer that encodes and decodes, or in a TokenizerError; never a raw
// TypeError/RangeError, a stack overflow or a hang; and both tokenizer.json readers always agree.

const corpus = [
  "The quick brown fox jumps over the lazy dog. ",
  "Über naïve café — 東京 🙂 numbers 12345 and   spaces\n\ttabs",
  "def f(x):\n    return x ** 2  # comment\n",
];
const trained = trainBPE(corpus, { vocabSize: 300, specialTokens: ["<|endoftext|>"] });
const base = trained.toJSON() as Record<string, unknown>;
const sampleText = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom(...corpus), fc.string({ unit: "grapheme", maxLength: 20 }));

/** Encodes and decodes with a loaded tokenizer; the ids must be integers the tokenizer knows. */
function exercise(tokenizer: Tokenizer, text: string): string {
  const ids = tokenizer.encode(text);
  for (const id of ids) {
    expect(Number.isInteger(id)).toBe(true);
    expect(id).toBeGreaterThanOrEqual(0);
    expect(id).toBeLessThan(tokenizer.vocabSize);
  }
  expect(typeof tokenizer.decode(Array.from(ids))).toBe("string");
  return JSON.stringify(Array.from(ids));
}

/**
 * Both readers on one file: the same ids, or both an error. (With two faults in one file they
 * may name different ones: the bytes reader meets the vocab first.)
 */
function bothReaders(text: string, sample: string): string {
  const read = (input: string | Uint8Array | object) => {
    try {
      return `ids ${exercise(fromTokenizerJson(input), sample)}`;
    } catch (error) {
      if (error instanceof TokenizerError) return `error ${error.message.replace(/: malformed JSON: .*/, ": malformed JSON")}`;
      throw error;
    }
  };
  const viaBytes = read(new TextEncoder().encode(text));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    expect(viaBytes).toMatch(/^error .*malformed JSON/);
    throw new TokenizerError(viaBytes);
  }
  const same = (other: string) =>
    viaBytes.startsWith("ids") ? expect(other).toBe(viaBytes) : expect(other).toMatch(/^error tokenizer\.json/);
  // a string with a lone surrogate has no UTF-8: the text reader then takes the general path too
  same(read(text));
  if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) same(read(parsed));
  if (viaBytes.startsWith("error")) throw new TokenizerError(viaBytes);
  return viaBytes;
}

/** A component object for a slot: a known type with fields of any JSON, or any JSON at all. */
const componentTypes = [
  "Sequence",
  "Split",
  "ByteLevel",
  "Digits",
  "Metaspace",
  "Whitespace",
  "WhitespaceSplit",
  "NFC",
  "NFKD",
  "Replace",
  "Prepend",
  "Lowercase",
  "Strip",
  "ByteFallback",
  "Fuse",
  "TemplateProcessing",
  "BertProcessing",
  "RobertaProcessing",
  "BPE",
  "WordPiece",
];
const component: fc.Arbitrary<unknown> = (
  fc.letrec(
    (tie) =>
      ({
        node: fc.oneof(
          {
            weight: 3,
            arbitrary: fc
              .record({ type: fc.constantFrom(...componentTypes) }, { requiredKeys: [] })
              .chain((r) =>
                fc
                  .dictionary(
                    fc.constantFrom(
                      "pattern",
                      "behavior",
                      "invert",
                      "content",
                      "prepend",
                      "pretokenizers",
                      "normalizers",
                      "decoders",
                      "processors",
                      "single",
                      "pair",
                      "special_tokens",
                      "cls",
                      "sep",
                      "replacement",
                      "prepend_scheme",
                      "add_prefix_space",
                      "use_regex",
                      "start",
                      "stop",
                      "individual_digits",
                    ),
                    tie("field"),
                    { maxKeys: 4 },
                  )
                  .map((d) => ({ ...d, ...r })),
              ),
          },
          { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
        ),
        field: fc.oneof(
          { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
          { weight: 1, arbitrary: fc.array(tie("node"), { maxLength: 3 }) },
          { weight: 1, arbitrary: fc.record({ Regex: regexArb() }) },
          { weight: 1, arbitrary: fc.record({ String: fc.string({ maxLength: 3 }) }) },
        ),
      }) as never,
  ) as unknown as { node: fc.Arbitrary<unknown> }
).node;

/** Regexes from a small grammar that can express the catastrophic shapes and the usual ones. */
function regexArb(): fc.Arbitrary<string> {
  const atom = fc.constantFrom("a", "b", " ", "\\s", "\\w", "\\d", ".", "[ab]", "\\p{L}", "[^\\s]", "(?:a|b)", "(?:a|a)", "(a)");
  const quant = fc.constantFrom("", "", "*", "+", "?", "{1,3}", "{2,}", "+?", "++");
  const piece = fc.tuple(atom, quant).map(([a, q]) => a + q);
  const seq = fc.array(piece, { minLength: 1, maxLength: 4 }).map((p) => p.join(""));
  const group = fc.tuple(fc.array(seq, { minLength: 1, maxLength: 3 }), quant).map(([alts, q]) => `(?:${alts.join("|")})${q}`);
  return fc.array(fc.oneof(seq, group), { minLength: 1, maxLength: 3 }).map((parts) => parts.join(""));
}

type Edit = { path: string[]; value: unknown } | { path: string[]; remove: true };
const slots = ["normalizer", "pre_tokenizer", "post_processor", "decoder", "added_tokens", "model", "truncation", "padding"];
const edit = fc.oneof(
  fc.record({ path: fc.constantFrom(...slots).map((s) => [s]), value: component }),
  fc.record({
    path: fc.constantFrom(
      ["model", "type"],
      ["model", "unk_token"],
      ["model", "byte_fallback"],
      ["model", "dropout"],
      ["model", "ignore_merges"],
    ),
    value: fc.jsonValue({ maxDepth: 1 }),
  }),
  fc.record({ path: fc.constantFrom(["model", "vocab"], ["model", "merges"], ["added_tokens"]), remove: fc.constant(true as const) }),
  fc.record({
    path: fc.tuple(fc.constant("model"), fc.constant("vocab"), fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("a", "Ġ", "e"))),
    value: fc.oneof(fc.integer({ min: -2, max: 400 }), fc.constantFrom(2 ** 31, 2 ** 32, 1e12, 0.5), fc.jsonValue({ maxDepth: 1 })),
  }),
  fc.record({
    path: fc.tuple(fc.constant("model"), fc.constant("merges"), fc.nat({ max: 60 }).map(String)),
    value: fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.tuple(fc.string({ maxLength: 3 }), fc.string({ maxLength: 3 })),
      fc.jsonValue({ maxDepth: 1 }),
    ),
  }),
  fc.record({
    path: fc.tuple(
      fc.constant("added_tokens"),
      fc.nat({ max: 2 }).map(String),
      fc.constantFrom("id", "content", "special", "normalized", "lstrip"),
    ),
    value: fc.oneof(fc.integer({ min: -1, max: 400 }), fc.constantFrom(1e12, 2 ** 31), fc.jsonValue({ maxDepth: 1 })),
  }),
);

function applyEdits(json: Record<string, unknown>, edits: readonly Edit[]): Record<string, unknown> {
  const out = structuredClone(json);
  for (const e of edits) {
    let node = out as Record<string, unknown>;
    for (const key of e.path.slice(0, -1)) {
      if (typeof node[key] !== "object" || node[key] === null) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    const last = e.path[e.path.length - 1]!;
    if ("remove" in e) delete node[last];
    else node[last] = e.value;
  }
  return out;
}

const byteEdit = fc.oneof(
  fc.record({ at: fc.nat(), cut: fc.constant(true as const) }),
  fc.record({ at: fc.nat(), insert: fc.constantFrom("{", "}", "[", "]", '"', ",", ":", "\\", '"model":', "null", "\u00e9", "\ud800") }),
);

describe("tokenizer readers, property-based (fast-check)", () => {
  it("tokenizer.json with parts replaced by generated JSON: a working tokenizer or a TokenizerError, and both readers agree", async () => {
    const t = tally("tokenizer-json-edits");
    await fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 3 }), sampleText, (edits, sample) =>
        outcome(t, [TokenizerError], () => bothReaders(JSON.stringify(applyEdits(base, edits as Edit[])), sample)),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(20);
    expect(t.errors.TokenizerError).toBeGreaterThan(100);
  });

  it("tokenizer.json text cut or with characters inserted: the same", async () => {
    const t = tally("tokenizer-json-bytes");
    const text = JSON.stringify(base);
    await fc.assert(
      fc.asyncProperty(fc.array(byteEdit, { minLength: 1, maxLength: 2 }), sampleText, (edits, sample) =>
        outcome(t, [TokenizerError], () => {
          let s = text;
          for (const e of edits) {
            const at = e.at % (s.length + 1);
            s = "cut" in e ? s.slice(0, at) : s.slice(0, at) + e.insert + s.slice(at);
          }
          bothReaders(s, sample);
        }),
      ),
      { seed: SEED, numRuns: 800 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(20);
    expect(t.errors.TokenizerError).toBeGreaterThan(100);
  });

  it("Split regexes from a grammar: refused at load, or encode adversarial text within the time bound", async () => {
    const t = tally("split-regex");
    const adversarial = fc.constantFrom(`${"a".repeat(26)}!`, `${" ".repeat(26)}x`, `${"ab".repeat(13)}\n`, "a1 b2 c3 ".repeat(4));
    await fc.assert(
      fc.asyncProperty(
        regexArb(),
        fc.constantFrom("Isolated", "Removed", "MergedWithPrevious", "Contiguous"),
        adversarial,
        (pattern, behavior, text) =>
          outcome(t, [TokenizerError], () => {
            const json = {
              ...base,
              pre_tokenizer: {
                type: "Sequence",
                pretokenizers: [{ type: "Split", pattern: { Regex: pattern }, behavior, invert: false }, base.pre_tokenizer as object],
              },
            };
            exercise(fromTokenizerJson(json), text);
          }),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(100);
    expect(t.errors.TokenizerError).toBeGreaterThan(100);
  });

  it("GPT-2 vocab.json + merges.txt, generated and mutated: round-trips text, or a TokenizerError", async () => {
    const t = tally("gpt2-files");
    const json = base.model as { vocab: Record<string, number>; merges: string[] | [string, string][] };
    const vocabText = JSON.stringify(json.vocab);
    const mergesText = `#version: 0.2\n${json.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m)).join("\n")}\n`;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constant({ vocab: vocabText, merges: mergesText }),
          fc.record({
            vocab: fc.constant(vocabText),
            merges: fc
              .array(byteEdit, { maxLength: 2 })
              .map((edits) =>
                edits.reduce(
                  (s, e) =>
                    "cut" in e
                      ? s.slice(0, e.at % (s.length + 1))
                      : s.slice(0, e.at % (s.length + 1)) + e.insert + s.slice(e.at % (s.length + 1)),
                  mergesText,
                ),
              ),
          }),
          fc.record({
            vocab: fc
              .array(byteEdit, { maxLength: 2 })
              .map((edits) =>
                edits.reduce(
                  (s, e) =>
                    "cut" in e
                      ? s.slice(0, e.at % (s.length + 1))
                      : s.slice(0, e.at % (s.length + 1)) + e.insert + s.slice(e.at % (s.length + 1)),
                  vocabText,
                ),
              ),
            merges: fc.constant(mergesText),
          }),
          fc.record({
            vocab: fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.dictionary(fc.string({ maxLength: 3 }), fc.integer({ min: -1, max: 10 }))),
            merges: fc.oneof(fc.string(), fc.jsonValue({ maxDepth: 1 })),
          }),
        ),
        fc.string({ maxLength: 30 }),
        (files, text) =>
          outcome(t, [TokenizerError], () => {
            const tokenizer = fromGpt2Files(files.vocab as never, files.merges as never);
            exercise(tokenizer, text);
            // byte-level BPE with every byte in the vocab: decode(encode(x)) is x (lone surrogates aside)
            if (files.vocab === vocabText && files.merges === mergesText && isWellFormed(text))
              expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
          }),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(100);
  });

  it("tiktoken rank files, generated and mutated: round-trips text, or a TokenizerError", async () => {
    const t = tally("tiktoken-ranks");
    const pattern = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`;
    const byteTokens = Array.from({ length: 256 }, (_, b) => [b]);
    const rankFile = (tokens: number[][]) => tokens.map((bytes, r) => `${Buffer.from(bytes).toString("base64")} ${r}`).join("\n");
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 97, max: 122 }), { minLength: 2, maxLength: 4 }), { maxLength: 20 }),
        fc.array(
          fc.oneof(
            fc.record({ line: fc.nat(), text: fc.string({ maxLength: 12 }) }),
            fc.record({ line: fc.nat(), rank: fc.oneof(fc.integer({ min: -1, max: 300 }), fc.constantFrom(2 ** 31, 2 ** 32, 1e21)) }),
          ),
          { maxLength: 2 },
        ),
        fc.string({ maxLength: 30 }),
        (extra, edits, text) =>
          outcome(t, [TokenizerError], () => {
            // the 256 bytes, then distinct multi-byte tokens (the reader derives the merges from them)
            const tokens = [...byteTokens];
            const seen = new Set(tokens.map((x) => x.join(",")));
            for (const e of extra) {
              if (seen.has(e.join(","))) continue;
              seen.add(e.join(","));
              tokens.push(e);
            }
            const lines = rankFile(tokens).split("\n");
            for (const e of edits) {
              const i = e.line % lines.length;
              lines[i] = "text" in e ? e.text : `${lines[i]!.split(" ")[0]} ${e.rank}`;
            }
            const tokenizer = fromTiktoken(lines.join("\n"), { pattern, specialTokens: { "<|endoftext|>": lines.length + 5 } });
            exercise(tokenizer, text);
            if (edits.length === 0 && isWellFormed(text)) expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
          }),
      ),
      { seed: SEED, numRuns: 1200 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(100);
  });
});
