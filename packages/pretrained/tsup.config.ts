import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  // One copy of each module per format: node.cjs requires index's chunk instead of bundling its own.
  splitting: true,
  target: "es2022",
});
