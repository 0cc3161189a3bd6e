import { defineConfig } from "tsup";

// A command, not a library: one ESM file with its shebang (src/bin.ts starts with it).
export default defineConfig({
  entry: ["src/bin.ts"],
  format: ["esm"],
  dts: false,
  sourcemap: true,
  clean: true,
  target: "es2022",
});
