// The example's training mix: GLM's blank infilling with two ways to choose the spans. GLM's own
// Poisson(3) token spans over 15% of the tokens, and word spans: about 15% of a sentence's inner
// words blanked, each span exactly one whole word (all of its BPE tokens). Both are laid out the same
// way (one [MASK] per span in Part A, the spans shuffled into Part B, 2D positions), as the GLM paper
// mixes span lengths (short spans for understanding, long ones for generation) within one objective.
// Word spans are what a one-word blank asks: with Poisson(3) spans alone, a [MASK] is mostly several
// tokens long and most Part B targets continue a span rather than start one.
import { glmBlankInfilling, glmExample } from "@llm/train";

/**
 * Where the words a blank can take start and end, from the tokens' text: a word starts at a token
 * that is a space and letters (" law") or a lone space before letters, never at the sentence's first
 * token, and runs on over tokens of letters alone ("s" in " law" "s"). Returns [start, length] pairs.
 */
export function wordsOf(ids, tokenText) {
  const words = [];
  for (let i = 1; i < ids.length; i++) {
    const first = tokenText(ids[i]);
    // BPE may leave the space a token of its own (" " "ha" "ve") where the word is rare.
    const spaceAlone = first === " " && i + 1 < ids.length && /^[A-Za-z]+$/.test(tokenText(ids[i + 1]));
    if (!spaceAlone && !/^ [A-Za-z]+$/.test(first)) continue;
    let end = i + 1;
    while (end < ids.length && /^[A-Za-z]+$/.test(tokenText(ids[end]))) end++;
    // A word that runs to the sentence's end has no right context; a question never masks one.
    if (end < ids.length) words.push([i, end - i]);
    i = end - 1;
  }
  return words;
}

/** Word spans: round(ratio x words) of the sentence's words (at least one), chosen at random. */
export function wordSpans(words, rng, ratio = 0.15) {
  const k = Math.max(1, Math.round(words.length * ratio));
  return rng
    .shuffle([...words])
    .slice(0, k)
    .map(([start, length]) => ({ start, length }));
}

/**
 * One example of the mix: word spans with probability `wordFraction` (when the sentence has a word
 * to blank), otherwise GLM's Poisson(3) spans. Part B takes the spans in a random order either way.
 */
export function mixedGlmExample(ids, words, rng, special, wordFraction) {
  if (words.length > 0 && rng.uniform() < wordFraction) return glmExample(ids, rng.shuffle(wordSpans(words, rng)), special);
  return glmBlankInfilling(ids, rng, special);
}
