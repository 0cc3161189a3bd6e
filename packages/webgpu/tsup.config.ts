import { defineConfig } from "tsup";

export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm", "cjs"],
  // The declarations name GPUDevice & co.: point consumers at @webgpu/types (a dependency), so
  // they type-check without skipLibCheck. The bundler drops the source's own reference line.
  dts: { banner: '/// <reference types="@webgpu/types" />' },
  sourcemap: true,
  clean: true,
  target: "es2022",
});
