import type { StridedView } from "../../backend.js";
import { isQuantized, QUANT_BLOCKS } from "../../dtype.js";
import { gridOf, iqGrid } from "../../quant/iq_grids.js";
import { viewData } from "../buffer.js";
import type { Arena } from "../memory/arena.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const KERNELS = {
  q8_0: kernel("stored", "gemv_q8_0"),
  q4_0: kernel("stored", "gemv_q4_0"),
  q5_0: kernel("stored", "gemv_q5_0"),
  q4_1: kernel("stored", "gemv_q4_1"),
  q5_1: kernel("stored", "gemv_q5_1"),
  q2_k: kernel("stored", "gemv_q2_k"),
  q3_k: kernel("stored", "gemv_q3_k"),
  iq4_nl: kernel("stored", "gemv_iq4_nl"),
  iq4_xs: kernel("stored", "gemv_iq4_xs"),
  q6_k: kernel("stored", "gemv_q6_k"),
  q4_k: kernel("stored", "gemv_q4_k"),
  q5_k: kernel("stored", "gemv_q5_k"),
  iq2_xxs: kernel("stored", "gemv_iq2_xxs"),
  iq2_xs: kernel("stored", "gemv_iq2_xs"),
  iq2_s: kernel("stored", "gemv_iq2_s"),
  iq3_xxs: kernel("stored", "gemv_iq3_xxs"),
  iq3_s: kernel("stored", "gemv_iq3_s"),
  iq1_s: kernel("stored", "gemv_iq1_s"),
  iq1_m: kernel("stored", "gemv_iq1_m"),
  float16: kernel("stored", "gemv_f16"),
  bfloat16: kernel("stored", "gemv_bf16"),
} as const;
/** gemv_f16 over activations multiplied by 2^112 (see the kernel): the same bits, a multiply fewer. */
const F16_SCALED = kernel("stored", "gemv_f16_scaled");
/** Its activations, scaled (and checked) in WebAssembly. */
const SCALE_2P112 = kernel("stored", "scale_2p112");
/**
 * With relaxed SIMD's fused multiply-add and K a multiple of 16, the half types' kernels read a
 * copy of the activations in pairs' order (each eight's even ones, then its odd ones), which lets
 * them decode eight halves from one load (see gemvHalf's pair): the kernel, and its copy.
 */
const PAIRED = {
  float16: [kernel("stored", "gemv_f16_scaled_paired"), kernel("stored", "scale_2p112_paired")],
  bfloat16: [kernel("stored", "gemv_bf16_paired"), kernel("stored", "pairs_order")],
} as const;

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;

/**
 * out [rows, N] = A [rows, K] W^T for a few activation rows (decoding) with W [N, K] kept in a
 * block type (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q2_K-Q6_K, IQ4_NL, IQ4_XS, the IQ1-IQ3 lattice types), float16 or bfloat16 in the resident heap: the kernel reads W's blocks where they
 * are, each thread a range of W's rows (so an output's dot product is the same whichever thread
 * computes it), and writes a new heap array. A is copied into W's memory. b is the [K, N] view of W
 * (K stride 1, rows sbn apart). Null (nothing done) where there is no runtime, W is not in the
 * heap, or the dtype or layout has no kernel here; the caller then runs the staged or JS kernel.
 */
export function residentMatmulStored(rows: number, N: number, K: number, A: Float32Array, b: StridedView): Float32Array | null {
  const rt = activeRuntime();
  const dtype = b.buffer.dtype;
  if (rt === null || !rt.ready || rows === 0 || N === 0 || K === 0 || !(dtype in KERNELS)) return null;
  const r = b.shape.length;
  const sbk = b.strides[r - 2]!;
  const sbn = b.strides[r - 1]!;
  if (sbk !== 1 || (N > 1 && sbn !== K)) return null;
  const quantized = isQuantized(dtype);
  const superBlocks = quantized && QUANT_BLOCKS[dtype].elements === 256;
  const blockElements = superBlocks ? 256 : 32;
  if (quantized ? K % blockElements !== 0 || b.offset % blockElements !== 0 : K % 4 !== 0) return null;
  const data = viewData(b);
  const home = rt.heap.locate(data);
  if (home === null) return null;
  const rowBytes = quantized ? (K / blockElements) * QUANT_BLOCKS[dtype].bytes : K * 2;
  const first = quantized ? (b.offset / blockElements) * QUANT_BLOCKS[dtype].bytes : b.offset * 2;
  const w = data.byteOffset + first;
  // per row: blocks (quantized) or groups of four halves
  const perRow = quantized ? K / blockElements : K / 4;
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const input = ops.input(A, 0, rows * K);
    const paired = rt.fma && K % 16 === 0 && (dtype === "float16" || dtype === "bfloat16");
    const copied = input === null ? null : activationCopy(dtype, input, rows * K, ops, home, paired);
    const x = copied ?? input;
    const result = x === null ? null : ops.result(rows * N);
    if (x === null || result === null) return null;
    const parts = splitRange(N, rt.partsFor(rows * N * K, Math.ceil(N / LINE)), LINE);
    // K-quants: 32 floats of scratch a part, for a super-block's scales (and Q2_K's mins)
    const scales = superBlocks ? ops.scratch(32 * parts.length) : null;
    if (superBlocks && scales === null) return null;
    // the lattice types' table, copied into W's memory
    const name = gridOf(dtype);
    const grid = name === null ? null : ops.bytes(iqGrid(name));
    if (name !== null && grid === null) return null;
    rt.call(
      copied === null ? KERNELS[dtype as keyof typeof KERNELS] : paired ? PAIRED[dtype as "float16" | "bfloat16"][0] : F16_SCALED,
      home,
      parts.map(([n0, n1], p) => {
        const args = [w + n0 * rowBytes, x, result.addr + n0 * 4, n1 - n0, perRow, rowBytes, rows, K * 4, N * 4];
        if (scales === null) return args;
        return grid === null ? [...args, scales.byteOffset + 128 * p] : [...args, scales.byteOffset + 128 * p, grid];
      }),
    );
    ok = true;
    return result.array;
  } finally {
    ops.done(ok);
  }
}

/**
 * The copy of the n activations at address x (in W's memory) that the kernel reads, in scratch
 * there: float16's times 2^112 (for gemv_f16_scaled, in pairs' order where `paired`), bfloat16's in
 * pairs' order where `paired`. Its address, or null where there is none to make, no scratch is left,
 * or (float16) some |value| is 2^16 or more or not finite (times 2^112 it would overflow): the plain
 * kernel then reads x.
 */
function activationCopy(dtype: string, x: number, n: number, ops: Operands, home: Arena, paired: boolean): number | null {
  const scaled = dtype === "float16";
  if (!scaled && !paired) return null;
  const copy = ops.scratch(n + 1);
  if (copy === null) return null;
  const fn = paired ? PAIRED[dtype as "float16" | "bfloat16"][1] : SCALE_2P112;
  activeRuntime()!.call(fn, home, [[x, copy.byteOffset, n]]);
  return !scaled || copy[n] === 1 ? copy.byteOffset : null;
}
