import type { StridedView } from "../../backend.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { FINITE_SCALE_OFFSETS, q8KRowBytes, q8RowBytes } from "../wasm/gemv_q8_resident_module.js";
import { gridOf, iqGrid } from "../../quant/iq_grids.js";
import { LATTICE_DTYPES, type LatticeDType } from "../wasm/lattice_code.js";
import { kernel } from "./modules.js";
import { viewData } from "../buffer.js";
import { blockRows, Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

/** Per weight dtype: the activations' quantizer (Q8_0, or Q8_K for the K-quants), the GEMV, values a block. */
const KERNELS = {
  q8_0: { quantize: kernel("q8", "quantize_q8_0"), gemv: kernel("q8", "gemv_q8_0"), block: 32, rowBytes: q8RowBytes },
  q4_0: { quantize: kernel("q8", "quantize_q8_0"), gemv: kernel("q8", "gemv_q4_0"), block: 32, rowBytes: q8RowBytes },
  iq4_nl: { quantize: kernel("q8", "quantize_q8_0"), gemv: kernel("q8", "gemv_iq4_nl"), block: 32, rowBytes: q8RowBytes },
  q5_0: { quantize: kernel("q8", "quantize_q8_0"), gemv: kernel("q8", "gemv_q5_0"), block: 32, rowBytes: q8RowBytes },
  // Q4_1 / Q5_1: Q8_1 activations (Q8_0's levels and scale, and s: Q8_ROW.s1)
  q4_1: { quantize: kernel("q8", "quantize_q8_0"), gemv: kernel("q8", "gemv_q4_1"), block: 32, rowBytes: q8RowBytes },
  q5_1: { quantize: kernel("q8", "quantize_q8_0"), gemv: kernel("q8", "gemv_q5_1"), block: 32, rowBytes: q8RowBytes },
  q6_k: { quantize: kernel("q8", "quantize_q8_k"), gemv: kernel("q8", "gemv_q6_k"), block: 256, rowBytes: q8KRowBytes },
  q4_k: { quantize: kernel("q8", "quantize_q8_k"), gemv: kernel("q8", "gemv_q4_k"), block: 256, rowBytes: q8KRowBytes },
  q5_k: { quantize: kernel("q8", "quantize_q8_k"), gemv: kernel("q8", "gemv_q5_k"), block: 256, rowBytes: q8KRowBytes },
  q3_k: { quantize: kernel("q8", "quantize_q8_k"), gemv: kernel("q8", "gemv_q3_k"), block: 256, rowBytes: q8KRowBytes },
  q2_k: { quantize: kernel("q8", "quantize_q8_k"), gemv: kernel("q8", "gemv_q2_k"), block: 256, rowBytes: q8KRowBytes },
  iq4_xs: { quantize: kernel("q8", "quantize_q8_k"), gemv: kernel("q8", "gemv_iq4_xs"), block: 256, rowBytes: q8KRowBytes },
  ...latticeKernels(),
} as const;

/** The lattice types (IQ1-IQ3: their table's address an extra argument). */
function latticeKernels() {
  const entry = (d: LatticeDType) => ({
    quantize: kernel("q8", "quantize_q8_k"),
    gemv: kernel("q8", `gemv_${d}`),
    block: 256,
    rowBytes: q8KRowBytes,
  });
  return Object.fromEntries(LATTICE_DTYPES.map((d) => [d, entry(d)])) as Record<LatticeDType, ReturnType<typeof entry>>;
}

type FiniteScaleKind = keyof typeof FINITE_SCALE_OFFSETS;
/** The GEMVs that decode block scales without the infinity and NaN case, for weights whose scales are all finite. */
const FINITE_GEMVS = Object.fromEntries(Object.keys(FINITE_SCALE_OFFSETS).map((k) => [k, kernel("q8", `gemv_${k}_finite`)])) as Record<
  FiniteScaleKind,
  ReturnType<typeof kernel>
>;

/** Whether a weight's block scales are all finite, by its host array (forgetBlockScales drops an entry). */
const finiteScales = new WeakMap<object, boolean>();

/** Drops what finiteBlockScales learned of `data` (a quantized buffer's bytes, about to be written in place). */
export function forgetBlockScales(data: object): void {
  finiteScales.delete(data);
}

/**
 * Whether every float16 scale (and min) of the blocks in `data` is finite, looked at once per
 * buffer (a TinyLlama Q4_0 layer's 2.0M blocks in a few milliseconds): the GEMV's `_finite` kernels
 * then skip the infinity and NaN case of the scale decoder. Real files hold no such scales; a
 * weight that does keeps the general kernel, whose results those are.
 */
function finiteBlockScales(data: Uint8Array, dtype: FiniteScaleKind): boolean {
  const known = finiteScales.get(data);
  if (known !== undefined) return known;
  const blockBytes = QUANT_BLOCKS[dtype].bytes;
  const halves = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let finite = true;
  for (const at of FINITE_SCALE_OFFSETS[dtype]) {
    for (let p = at; p + 2 <= data.byteLength && finite; p += blockBytes) {
      if ((halves.getUint16(p, true) & 0x7c00) === 0x7c00) finite = false;
    }
  }
  finiteScales.set(data, finite);
  return finite;
}

/** The GEMVs that take a block an iteration, with scratch for the row's scales (wasm/gemv_q8_resident_module.ts, gemvQ8Blockwise). */
const BLOCKWISE: ReadonlySet<string> = new Set(["iq4_nl"]);

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;

/**
 * residentMatmulStored for activationRounding "ggml" over a Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL, Q6_K, Q4_K, Q5_K, Q3_K, Q2_K, IQ4_XS or lattice (IQ1-IQ3) weight, as llama.cpp
 * computes it: the activation rows [rows, K] are quantized to Q8_0 (Q8_K for the K-quants) blocks once (in the weight's
 * memory, on this thread), then threads take ranges of W's rows and run int8 dot products
 * (wasm/gemv_q8_resident_module.ts). The same values as roundActivationsLikeGgml then the float
 * kernel, summed in another order. Null (nothing done) where there is no runtime, W is not in the
 * heap, or its dtype or layout has no kernel here: the caller then rounds and runs the float kernels.
 */
export function residentMatmulStoredQ8(rows: number, N: number, K: number, A: Float32Array, b: StridedView): Float32Array | null {
  const rt = activeRuntime();
  const dtype = b.buffer.dtype;
  if (rt === null || !rt.ready || rows === 0 || N === 0 || K === 0 || !(dtype in KERNELS)) return null;
  const spec = KERNELS[dtype as keyof typeof KERNELS];
  const weight = blockRows(rt.heap, b, N, K, spec.block, QUANT_BLOCKS[dtype as keyof typeof KERNELS].bytes);
  if (weight === null) return null;
  const { home, w, nb, rowBytes } = weight;
  const ldq = spec.rowBytes(nb);
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const x = ops.input(A, 0, rows * K);
    const q = x === null ? null : ops.scratch((rows * ldq) / 4);
    // the lattice types' table, copied into W's memory
    const name = gridOf(dtype);
    const grid = name === null ? null : ops.bytes(iqGrid(name));
    const result = q === null || (name !== null && grid === null) ? null : ops.result(rows * N);
    if (x === null || q === null || result === null) return null;
    rt.call(spec.quantize, home, [[x, q.byteOffset, rows, nb, K * 4, ldq]]);
    const parts = splitRange(N, rt.partsFor(rows * N * K, Math.ceil(N / LINE)), LINE);
    // IQ4_NL: each part's scratch for a row's d_w d_x (nb rounded up to a vector)
    const perPart = BLOCKWISE.has(dtype) ? Math.ceil(nb / 4) * 4 : 0;
    const scales = perPart === 0 ? null : ops.scratch(perPart * parts.length);
    if (perPart > 0 && scales === null) return null;
    const finite = dtype in FINITE_GEMVS && finiteBlockScales(viewData(b) as Uint8Array, dtype as FiniteScaleKind);
    rt.call(
      finite ? FINITE_GEMVS[dtype as FiniteScaleKind] : spec.gemv,
      home,
      parts.map(([n0, n1], p) => {
        const args = [w + n0 * rowBytes, q.byteOffset, result.addr + n0 * 4, n1 - n0, nb, rowBytes, rows, ldq, N * 4];
        if (scales !== null) args.push(scales.byteOffset + 4 * perPart * p);
        return grid === null ? args : [...args, grid];
      }),
    );
    ok = true;
    return result.array;
  } finally {
    ops.done(ok);
  }
}
