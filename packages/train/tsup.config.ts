import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  // Shared chunks so dist/node.cjs and dist/index.cjs use one copy of the optimizer classes.
  splitting: true,
  target: "es2022",
});
