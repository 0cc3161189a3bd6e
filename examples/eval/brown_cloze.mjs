// A multiple-choice task built from the Brown corpus: the start of a sentence, and four words to
// continue it with, one of them the word that follows in the corpus; the three others are drawn
// from words of similar frequency, so the choice needs the context, not word frequency.
import { Rng } from "@llm/tensor";
import { readBrown } from "../demo/brown.mjs";

/** { context, choices, gold } questions from the documents the demo holds out (every 20th), and a pool from the others. */
export function brownCloze({ n = 200, seed = 0, poolSize = 400 } = {}) {
  const docs = readBrown();
  const counts = new Map();
  for (const d of docs)
    for (const s of d.sentences) for (const w of s.split(" ")) if (/^[a-z]+$/.test(w)) counts.set(w, (counts.get(w) ?? 0) + 1);
  const byFrequency = [...counts]
    .filter(([, c]) => c >= 5)
    .sort((a, b) => b[1] - a[1])
    .map(([w]) => w);
  const rank = new Map(byFrequency.map((w, i) => [w, i]));
  const rng = new Rng(seed);
  const questions = (held) => {
    const out = [];
    docs.forEach((d, i) => {
      if ((i % 20 === 10) !== held) return;
      for (const s of d.sentences) {
        const words = s.split(" ");
        if (words.length < 8 || words.length > 30) continue;
        const at = 4 + rng.int(words.length - 5);
        const answer = words[at];
        if (!rank.has(answer)) continue;
        // Distractors: distinct words within 50 ranks of the answer's frequency.
        const r = rank.get(answer);
        const near = byFrequency.slice(Math.max(0, r - 50), r + 50).filter((w) => w !== answer);
        const distractors = rng.shuffle([...near]).slice(0, 3);
        const choices = rng.shuffle([answer, ...distractors]);
        out.push({ context: words.slice(0, at).join(" "), choices, gold: choices.indexOf(answer) });
      }
    });
    return rng.shuffle(out);
  };
  return { docs: questions(true).slice(0, n), pool: questions(false).slice(0, poolSize) };
}
