// Node 20 has relaxed SIMD (the fused multiply-add our matrix kernels use where the engine has it)
// only behind a V8 flag; Node 22+ and Chrome 114+ have it on by default. The benchmarks run our
// side in a child process with the flag where this Node accepts it (so the figures are what a
// current engine gives), and with plain 128-bit SIMD too, so both are on record.
import { spawnSync } from "node:child_process";

const FLAG = "--experimental-wasm-relaxed-simd";

/** The Node flags that turn relaxed SIMD on here: [] where this Node does not take the flag (on by default there, or absent). */
export const relaxedSimdFlags = spawnSync(process.execPath, [FLAG, "-e", "0"], { stdio: "ignore" }).status === 0 ? [FLAG] : [];
