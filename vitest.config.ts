import { defineConfig } from "vitest/config";
import { fileURLToPath } from "node:url";
import { readdirSync } from "node:fs";

// Tests import sibling packages from source, so `pnpm test` needs no build first.
const packages = readdirSync(new URL("./packages", import.meta.url));
const alias = Object.fromEntries(
  packages.map((name) => [`@llm/${name}`, fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url))]),
);

export default defineConfig({
  resolve: { alias },
  test: {
    projects: packages.map((name) => ({
      resolve: { alias },
      test: {
        name,
        root: `./packages/${name}`,
        include: ["test/**/*.test.ts"],
        testTimeout: 120_000,
        hookTimeout: 120_000,
      },
    })),
  },
});
