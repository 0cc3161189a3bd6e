// Judging blank infilling by its fills: one word of each held-out sentence becomes a [MASK], the model
// fills it greedily, and a fill counts when its first word is exactly the word. Only the first word:
// GLM's [MASK] says nothing of how long its span is (half the training spans are GLM's Poisson(3)
// token spans, so a fill may run on past its word), and the question asks for one word. The baseline
// fills every blank with the training sentences' most frequent word; a stronger one, which uses one
// word of context, fills it with the word most often seen after the blank's left neighbour.
import { fillBlanksText } from "@llm/sampling";

const isWord = (w) => /^[A-Za-z]+$/.test(w);

/** One blank per sentence: a word (not the first or last) chosen with rng; the blank takes the space before it. */
export function blankQuestions(sentences, rng, { count = 200, maxWords = 20 } = {}) {
  const out = [];
  for (const sentence of sentences) {
    if (out.length >= count) break;
    const words = sentence.split(" ");
    if (words.length < 5 || words.length > maxWords) continue;
    const candidates = words.map((_, i) => i).filter((i) => i > 0 && i < words.length - 1 && isWord(words[i]));
    if (candidates.length === 0) continue;
    const at = candidates[rng.int(candidates.length)];
    out.push({
      sentence,
      answer: words[at],
      left: words[at - 1],
      masked: `${words.slice(0, at).join(" ")}[MASK] ${words.slice(at + 1).join(" ")}`,
    });
  }
  return out;
}

/** The most frequent word of the training sentences (words as blankQuestions picks them). */
export function mostFrequentWord(sentences) {
  const counts = new Map();
  for (const s of sentences) {
    const words = s.split(" ");
    words.forEach((w, i) => i > 0 && i < words.length - 1 && isWord(w) && counts.set(w, (counts.get(w) ?? 0) + 1));
  }
  return [...counts].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
}

/**
 * The bigram baseline: for each left neighbour seen in training, the word most often after it (words
 * as blankQuestions picks them); where the neighbour was never seen, the most frequent word.
 */
export function leftNeighbourGuesser(sentences) {
  const after = new Map();
  for (const s of sentences) {
    const words = s.split(" ");
    words.forEach((w, i) => {
      if (i === 0 || i === words.length - 1 || !isWord(w)) return;
      const counts = after.get(words[i - 1]) ?? new Map();
      after.set(words[i - 1], counts.set(w, (counts.get(w) ?? 0) + 1));
    });
  }
  const fallback = mostFrequentWord(sentences);
  const best = new Map([...after].map(([left, counts]) => [left, [...counts].reduce((a, b) => (b[1] > a[1] ? b : a))[0]]));
  return (left) => best.get(left) ?? fallback;
}

/** The first word of a fill (spaces aside): what a one-word blank is judged by. */
export function firstWord(fill) {
  return fill.trim().split(/\s+/)[0] ?? "";
}

/** Exact-match rate of greedy fills' first words, the fills and those words. */
export async function fillExactMatch(model, tokenizer, questions, tokens) {
  const wasTraining = model.training;
  model.eval();
  let hits = 0;
  const fills = [];
  const words = [];
  for (const q of questions) {
    const { spans } = await fillBlanksText(model, tokenizer, q.masked, { tokens, maxSpanTokens: 8, minSpanTokens: 1 });
    const fill = (spans[0] ?? "").trim();
    fills.push(fill);
    words.push(firstWord(fill));
    if (firstWord(fill) === q.answer) hits++;
  }
  model.train(wasTraining);
  return { exact: hits / questions.length, fills, words };
}
