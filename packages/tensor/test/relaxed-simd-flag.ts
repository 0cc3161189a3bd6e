// Imported first by cpu-relaxed-simd.test.ts, so the flag is set before anything compiles a module:
// Node 20's V8 has relaxed SIMD behind this flag (Node 22 and browsers ship it on).
import { setFlagsFromString } from "node:v8";

setFlagsFromString("--experimental-wasm-relaxed-simd");
