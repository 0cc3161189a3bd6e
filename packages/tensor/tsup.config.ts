import { readFileSync } from "node:fs";
import { defineConfig } from "tsup";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8")) as { version: string };

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
  // Each build knows its version and format, so two copies of @llm/tensor in one app can name
  // themselves in the error that refuses the second (src/copies.ts).
  esbuildOptions(options, context) {
    options.define = {
      ...options.define,
      __LLM_TENSOR_VERSION__: JSON.stringify(version),
      __LLM_TENSOR_FORMAT__: JSON.stringify(context.format),
    };
  },
});
