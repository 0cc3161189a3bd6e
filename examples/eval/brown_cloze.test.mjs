// The Brown cloze task: four choices, the right one being the word that follows the context in the corpus.
import { expect, it } from "vitest";
import { readBrown } from "../demo/brown.mjs";
import { brownCloze } from "./brown_cloze.mjs";

it("held-out questions whose right choice is the corpus's next word, and a pool from the training documents", () => {
  const { docs, pool } = brownCloze({ n: 50, poolSize: 50 });
  expect(docs).toHaveLength(50);
  expect(pool).toHaveLength(50);
  const held = readBrown()
    .filter((_, i) => i % 20 === 10)
    .flatMap((d) => d.sentences);
  for (const q of docs) {
    expect(new Set(q.choices).size).toBe(4);
    expect(held.some((s) => s.startsWith(`${q.context} ${q.choices[q.gold]} `) || s === `${q.context} ${q.choices[q.gold]}`)).toBe(true);
  }
  const heldContexts = new Set(docs.map((d) => d.context));
  expect(pool.some((q) => heldContexts.has(q.context))).toBe(false);
});
