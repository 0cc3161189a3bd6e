// The part-of-speech questions are what the corpus says: each answer is the class of the word's own
// Brown tag in that sentence.
import { Rng } from "@llm/tensor";
import { expect, it } from "vitest";
import { coarseTag, LABELS, posQuestions, questionMessages, readTaggedBrown, sentenceText } from "./pos_task.mjs";

it("folds Brown's tags into seven classes and leaves the rest out", () => {
  const cases = {
    nn: "noun",
    "nns-tl": "noun",
    np$: "noun",
    vbd: "verb",
    vbg: "verb",
    jjr: "adjective",
    rb: "adverb",
    ppss: "pronoun",
    in: "preposition",
    at: "determiner",
  };
  for (const [tag, label] of Object.entries(cases)) expect(coarseTag(tag), tag).toBe(label);
  for (const tag of [".", ",", "cc", "cs", "md", "be", "hvd", "fw-nn", "to", "cd"]) expect(coarseTag(tag), tag).toBeNull();
  expect(LABELS).toHaveLength(7);
});

it("every question's answer is the class of that word's tag in its sentence", () => {
  const docs = readTaggedBrown().slice(0, 10);
  const questions = posQuestions(docs, new Rng(0));
  expect(questions.length).toBeGreaterThan(20);
  const tagged = docs.flatMap((d) => d.sentences);
  for (const q of questions) {
    const sentence = tagged.find((s) => sentenceText(s) === q.sentence);
    expect(sentence, q.sentence).toBeDefined();
    const matches = sentence.filter(([w]) => w === q.word);
    expect(matches).toHaveLength(1); // asked only about words that occur once
    expect(coarseTag(matches[0][1].toLowerCase())).toBe(q.label);
  }
  expect(questionMessages(questions[0])[0].content).toBe(`${questions[0].sentence}\nPart of speech of "${questions[0].word}"?`);
});
