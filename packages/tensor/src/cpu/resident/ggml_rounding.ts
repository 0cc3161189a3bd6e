import type { DType } from "../../dtype.js";
import type { Arena } from "../memory/arena.js";
import { roundsToQ8_0Blocks } from "../kernels/ggml_rounding.js";
import { kernel } from "./modules.js";
import { activeRuntime, splitRange } from "./runtime.js";

const ROUND_HALF = { float16: kernel("ggml_rounding", "round_f16"), bfloat16: kernel("ggml_rounding", "round_bf16") } as const;
const ROUND_Q8_0 = kernel("ggml_rounding", "round_q8_0");

/**
 * Rounds `rows` activation rows of K floats at byte address `src` into `dst` (both in memory
 * `home`) as llama.cpp rounds them before a matmul over a `weight`-typed weight, the same values as
 * roundActivationsLikeGgml (kernels/ggml_rounding.ts): float16 or bfloat16 for those weights, Q8_0
 * blocks for Q8_0, Q4_0, Q5_0, IQ4_NL, Q4_1 and Q5_1 ones (roundsToQ8_0Blocks). Threads take ranges of rows. False (nothing written) where no
 * kernel here rounds for that weight or K (Q8_K for the K-quants, rows of partial blocks): the
 * caller then rounds in JS.
 */
export function roundActivationsResident(home: Arena, src: number, dst: number, rows: number, K: number, weight: DType): boolean {
  const rt = activeRuntime();
  if (rt === null || !rt.ready) return false;
  const blocks = roundsToQ8_0Blocks(weight);
  const group = blocks ? 32 : 4;
  if ((!blocks && !(weight in ROUND_HALF)) || K % group !== 0) return false;
  const ref = blocks ? ROUND_Q8_0 : ROUND_HALF[weight as keyof typeof ROUND_HALF];
  const parts = splitRange(rows, rt.partsFor(rows * K * 8, rows), 1);
  rt.call(
    ref,
    home,
    parts.map(([r0, r1]) => [src + r0 * K * 4, dst + r0 * K * 4, ((r1 - r0) * K) / group]),
  );
  return true;
}
