import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";
import { readdirSync } from "node:fs";

// Tests import sibling packages from source, so `pnpm test` needs no build first.
const packages = readdirSync(new URL("./packages", import.meta.url));
// Exact matches, so a subpath entry such as @llm/tensor/node maps to its own source file
// (a plain "@llm/tensor" key would also capture "@llm/tensor/node").
const alias = packages.flatMap((name) => [
  { find: new RegExp(`^@llm/${name}$`), replacement: fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url)) },
  { find: new RegExp(`^@llm/${name}/node$`), replacement: fileURLToPath(new URL(`./packages/${name}/src/node.ts`, import.meta.url)) },
]);

// The examples' own helpers (the demo's PNG loss curve) are plain JavaScript, tested beside them.
const examples = {
  resolve: { alias },
  test: { name: "examples", root: fileURLToPath(new URL("./examples", import.meta.url)), include: ["**/*.test.mjs"], testTimeout: 120_000 },
};

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      ...packages.map((name) => ({
        resolve: { alias },
        test: {
          name,
          // Absolute, because vitest resolves a relative project root against the current folder, not
          // this file: `pnpm test` inside a package (`--root ../..`) would look in packages/x/packages/x.
          root: fileURLToPath(new URL(`./packages/${name}`, import.meta.url)),
          include: ["test/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Dawn (the WebGPU tests' native addon) in two test processes at once sometimes takes a
          // worker down, which ends the whole vitest run: its files run one process at a time.
          ...(name === "webgpu" ? { poolOptions: { forks: { singleFork: true } } } : {}),
        },
      })),
      examples,
      // The packed tarballs installed into an empty folder: ESM, CJS, types, browser bundles.
      {
        test: {
          name: "install",
          root: fileURLToPath(new URL("./tests/install", import.meta.url)),
          include: ["*.test.ts"],
          testTimeout: 600_000,
          hookTimeout: 900_000,
        },
      },
    ],
  },
});
