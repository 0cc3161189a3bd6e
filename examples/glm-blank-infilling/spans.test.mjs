// The GLM example's training mix: word spans are whole words of the real BPE, laid out as GLM lays
// out any span; the rest of the mix is GLM's own objective, untouched.
import { Rng } from "@llm/tensor";
import { trainBPE } from "@llm/tokenizer";
import { glmBlankInfilling } from "@llm/train";
import { expect, it } from "vitest";
import { mixedGlmExample, wordSpans, wordsOf } from "./spans.mjs";

const sentences = [
  "The jury said it did find that many of the registration practices were outmoded.",
  "The grand jury commented on a number of other topics, among them the Atlanta and Fulton County purchasing departments.",
  "It recommended that Fulton legislators act to have these laws studied and revised.",
];
// A small vocabulary, so that many words are several tokens.
const tokenizer = trainBPE(sentences, { vocabSize: 300, specialTokens: ["<|endoftext|>", "[MASK]", "[sop]", "[eop]"] });
const [pad, mask, sop, eop] = ["<|endoftext|>", "[MASK]", "[sop]", "[eop]"].map((t) => tokenizer.tokenToId(t));
const special = { mask, sop, eop, pad };
const text = (id) => tokenizer.decode([id]);

it("finds the inner words of a sentence as whole runs of BPE tokens", () => {
  const ids = [...tokenizer.encode(sentences[2])];
  const words = wordsOf(ids, text);
  const spelled = words.map(([start, length]) => tokenizer.decode(ids.slice(start, start + length)));
  // Every word but the first, the last two ("revised" runs into the final "."; kept, as it has right context).
  expect(spelled).toEqual(
    sentences[2]
      .split(" ")
      .slice(1, -1)
      .map((w) => ` ${w}`)
      .concat([" revised"]),
  );
  expect(words.some(([, length]) => length > 1)).toBe(true);
  // Punctuation is never part of a word: "topics," gives " topics" and no word for ",".
  const ids1 = [...tokenizer.encode(sentences[1])];
  const spelled1 = wordsOf(ids1, text).map(([s, l]) => tokenizer.decode(ids1.slice(s, s + l)));
  expect(spelled1).toContain(" topics");
  expect(spelled1.every((w) => /^ [A-Za-z]+$/.test(w))).toBe(true);
});

it("blanks about 15% of the words, at least one, each span one whole word", () => {
  const ids = [...tokenizer.encode(sentences[1])];
  const words = wordsOf(ids, text);
  const spans = wordSpans(words, new Rng(3));
  expect(spans).toHaveLength(Math.round(words.length * 0.15));
  for (const s of spans) expect(words).toContainEqual([s.start, s.length]);
  expect(new Set(spans.map((s) => s.start)).size).toBe(spans.length);
  expect(wordSpans(words.slice(0, 2), new Rng(3))).toHaveLength(1);
});

it("lays word spans out as GLM does: one [MASK] each in Part A, each span then [eop] in Part B", () => {
  const ids = [...tokenizer.encode(sentences[0])];
  const words = wordsOf(ids, text);
  const ex = mixedGlmExample(ids, words, new Rng(5), special, 1);
  const partA = ex.inputIds.slice(0, ex.sep);
  const masks = partA.filter((t) => t === mask).length;
  expect(masks).toBe(Math.max(1, Math.round(words.length * 0.15)));
  // Part B: [sop] word-tokens..., targets the same tokens then [eop]; each span is a word of the sentence.
  const partB = ex.inputIds.slice(ex.sep);
  const spans = [];
  for (const t of partB) t === sop ? spans.push([]) : spans.at(-1).push(t);
  expect(spans).toHaveLength(masks);
  const wordTexts = words.map(([s, l]) => tokenizer.decode(ids.slice(s, s + l)));
  for (const span of spans) expect(wordTexts).toContain(tokenizer.decode(span));
  expect(ex.targets.slice(ex.sep).filter((t) => t === eop)).toHaveLength(masks);
  // Each span sits at its [MASK]'s position: putting them back there gives the sentence.
  const spanAt = new Map(spans.map((span, j) => [ex.positions[ex.sep + nth(partB, sop, j)], span]));
  expect(partA.flatMap((t, p) => (t === mask ? spanAt.get(p) : [t]))).toEqual(ids);
});

it("keeps GLM's Poisson(3) spans for the rest of the mix", () => {
  const ids = [...tokenizer.encode(sentences[1])];
  const words = wordsOf(ids, text);
  // wordFraction 0: exactly GLM's objective from the same random stream (after the draw that chose it).
  const rng = new Rng(9);
  rng.uniform();
  expect(mixedGlmExample(ids, words, new Rng(9), special, 0)).toEqual(glmBlankInfilling(ids, rng, special));
  // A sentence with no word to blank falls back to GLM's spans too.
  expect(mixedGlmExample(ids, [], new Rng(9), special, 1)).toEqual(glmBlankInfilling(ids, new Rng(9), special));
});

/** Index of the n-th occurrence of `value` in `list`. */
function nth(list, value, n) {
  let seen = -1;
  return list.findIndex((v) => v === value && ++seen === n);
}
