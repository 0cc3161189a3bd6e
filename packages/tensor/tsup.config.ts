import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  // Shared chunks for CJS too: without them dist/node.cjs carries its own copy of Tensor and the
  // engine state (backend, tidy scopes), so tensors it loads are not `instanceof Tensor` in index.cjs.
  splitting: true,
  target: "es2022",
});
