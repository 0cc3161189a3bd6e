import { describe, it, expect } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { packageRoot } from "./helpers.js";

// src/utils/ is the bottom layer: its files may import only each other, so that anything in the
// package can use them without an import cycle.

const utilsDir = join(packageRoot, "src", "utils");

/** Every .ts file under dir, recursively. */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** The module specifiers a source file imports or re-exports (static, type-only and dynamic). */
function importedSpecifiers(source: string): string[] {
  const found: string[] = [];
  for (const m of source.matchAll(/(?:^|[\s;}])(?:import|export)\s[^;]*?\bfrom\s*["']([^"']+)["']/g)) found.push(m[1]!);
  for (const m of source.matchAll(/(?:^|[\s;])import\s*["']([^"']+)["']/g)) found.push(m[1]!);
  for (const m of source.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1]!);
  return found;
}

describe("src/utils imports nothing above it", () => {
  it("the import reader finds each kind of import", () => {
    const sample = [
      'import { a } from "./a.js";',
      'import type { B } from "../b.js";',
      "export { c } from './c.js';",
      'export * from "../d.js";',
      'import "./e.js";',
      'const f = await import("../f.js");',
      'import {\n  g,\n  h,\n} from "../g.js";',
    ].join("\n");
    expect(importedSpecifiers(sample).sort()).toEqual(["../b.js", "../d.js", "../f.js", "../g.js", "./a.js", "./c.js", "./e.js"]);
  });

  it("every file in src/utils imports only files in src/utils", () => {
    const files = sourceFiles(utilsDir);
    expect(files.length).toBeGreaterThan(0);
    const outside: string[] = [];
    for (const file of files) {
      for (const spec of importedSpecifiers(readFileSync(file, "utf8"))) {
        const target = spec.startsWith(".") ? resolve(dirname(file), spec) : null;
        if (target === null || !(target + sep).startsWith(utilsDir + sep))
          outside.push(`${relative(packageRoot, file)} imports ${JSON.stringify(spec)}`);
      }
    }
    expect(outside, "src/utils/ must import only other files of src/utils/ (move the file up, or the thing it needs down)").toEqual([]);
  });
});
