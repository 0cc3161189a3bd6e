// The blanks the GLM example is judged on: one word per sentence, masked where it stood.
import { Rng } from "@llm/tensor";
import { expect, it } from "vitest";
import { blankQuestions, firstWord, leftNeighbourGuesser, mostFrequentWord } from "./fills.mjs";

it("masks one inner word per sentence, the [MASK] taking the space before it", () => {
  const sentences = ["The cat sat on the mat.", "Too short.", "A dog ran after the red ball today."];
  const questions = blankQuestions(sentences, new Rng(1));
  expect(questions).toHaveLength(2);
  for (const q of questions) {
    expect(q.masked.split("[MASK]")).toHaveLength(2);
    expect(q.masked.replace("[MASK]", ` ${q.answer}`)).toBe(q.sentence);
    expect(q.sentence.startsWith(q.answer)).toBe(false);
    expect(q.masked.startsWith(`${q.left}[MASK]`) || q.masked.includes(` ${q.left}[MASK]`)).toBe(true);
  }
  expect(mostFrequentWord(["a the b", "c the d e", "x y z"])).toBe("the");
});

it("judges a fill by its first word", () => {
  expect(firstWord(" wide the the")).toBe("wide");
  expect(firstWord("pair")).toBe("pair");
  expect(firstWord("  ")).toBe("");
});

it("guesses the word most often after the left neighbour, else the most frequent word", () => {
  const guess = leftNeighbourGuesser(["a cat sat x", "a cat ran y", "a cat sat z", "b dog ran q"]);
  expect(guess("cat")).toBe("sat");
  expect(guess("dog")).toBe("ran");
  // Never seen as a left neighbour: the most frequent word ("cat", 3 times as an inner word).
  expect(guess("zebra")).toBe("cat");
});
