import { defineConfig } from "tsup";

export default defineConfig({
  // index: no Node built-ins (browsers); node: file helpers
  entry: ["src/index.ts", "src/node.ts"],
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
});
