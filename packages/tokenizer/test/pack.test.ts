import { describe, it, expect } from "vitest";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { packageRoot } from "./helpers.js";

// Builds the package, packs it with `npm pack`, installs the tarball into an empty folder
// (offline: the package has no dependencies to fetch) and encodes there, in ESM and CommonJS.
describe("npm pack", () => {
  it("installs into an empty folder and encodes there with nothing else", () => {
    const work = mkdtempSync(join(tmpdir(), "llm-tokenizer-pack-"));
    try {
      execFileSync("npx", ["tsup"], { cwd: packageRoot, stdio: "pipe" });
      const out = execFileSync("npm", ["pack", "--pack-destination", work], { cwd: packageRoot, encoding: "utf8" });
      const tarball = out.trim().split("\n").pop()!;
      const app = join(work, "app");
      execFileSync("mkdir", [app]);
      writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
      execFileSync("npm", ["install", "--offline", "--no-audit", "--no-fund", join(work, tarball)], { cwd: app, stdio: "pipe" });
      expect(readdirSync(join(app, "node_modules")).filter((d) => !d.startsWith("."))).toEqual(["@llm"]);
      writeFileSync(
        join(app, "esm.mjs"),
        `import { trainBPE, fromTokenizerJson } from "@llm/tokenizer";
import { loadTokenizerJson } from "@llm/tokenizer/node";
import { writeFileSync } from "node:fs";
const text = "the quick brown fox jumps over the lazy dog. ".repeat(50) + "héllo wörld 😀";
const tok = trainBPE([text], { vocabSize: 300, specialTokens: ["<|endoftext|>"] });
writeFileSync("tokenizer.json", JSON.stringify(tok.toJSON()));
const again = loadTokenizerJson("tokenizer.json");
const ids = again.encode("the lazy fox<|endoftext|>");
console.log(JSON.stringify({ ids, text: again.decode(ids), same: JSON.stringify(ids) === JSON.stringify(fromTokenizerJson(JSON.stringify(tok.toJSON())).encode("the lazy fox<|endoftext|>")) }));
`,
      );
      writeFileSync(
        join(app, "cjs.cjs"),
        `const { trainBPE } = require("@llm/tokenizer");
const tok = trainBPE(["abc abc abc"], { vocabSize: 260 });
console.log(tok.decode(tok.encode("abc cab")));
`,
      );
      const esm = JSON.parse(execFileSync("node", ["esm.mjs"], { cwd: app, encoding: "utf8" })) as {
        ids: number[];
        text: string;
        same: boolean;
      };
      expect(esm.text).toBe("the lazy fox<|endoftext|>");
      expect(esm.ids.length).toBeLessThan("the lazy fox".length);
      expect(esm.ids[esm.ids.length - 1]).toBe(0);
      expect(esm.same).toBe(true);
      expect(execFileSync("node", ["cjs.cjs"], { cwd: app, encoding: "utf8" }).trim()).toBe("abc cab");
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
