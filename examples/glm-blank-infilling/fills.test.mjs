// The blanks the GLM example is judged on: one word per sentence, masked where it stood.
import { Rng } from "@llm/tensor";
import { expect, it } from "vitest";
import { blankQuestions, firstWord, mostFrequentWord } from "./fills.mjs";

it("masks one inner word per sentence, the [MASK] taking the space before it", () => {
  const sentences = ["The cat sat on the mat.", "Too short.", "A dog ran after the red ball today."];
  const questions = blankQuestions(sentences, new Rng(1));
  expect(questions).toHaveLength(2);
  for (const q of questions) {
    expect(q.masked.split("[MASK]")).toHaveLength(2);
    expect(q.masked.replace("[MASK]", ` ${q.answer}`)).toBe(q.sentence);
    expect(q.sentence.startsWith(q.answer)).toBe(false);
  }
  expect(mostFrequentWord(["a the b", "c the d e", "x y z"])).toBe("the");
});

it("judges a fill by its first word", () => {
  expect(firstWord(" wide the the")).toBe("wide");
  expect(firstWord("pair")).toBe("pair");
  expect(firstWord("  ")).toBe("");
});
