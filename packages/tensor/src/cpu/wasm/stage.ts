/**
 * Copying operand blocks from strided Float32Arrays into wasm memory, in a layout the kernel reads
 * (see gemm_module.ts): contiguous lines go over as whole-line copies (a memcpy, ~8x faster than
 * an element loop), anything else is packed element by element into k-major panels.
 */

/** Where a block landed, as float strides: step p of k, row r of a panel, panel q. */
export interface Staged {
  step: number;
  row: number;
  panel: number;
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/** Below this a subarray costs more than it saves. */
const SHORT_LINE = 32;

function copyLine(src: Float32Array, s: number, n: number, dst: Float32Array, d: number): void {
  if (n >= SHORT_LINE) dst.set(src.subarray(s, s + n), d);
  else for (let i = 0; i < n; i++) dst[d + i] = src[s + i]!;
}

/** Floats an A block of rows x kc may take, in any layout. */
export function stagedASize(rows: number, kc: number, w: number): number {
  return roundUp(rows, w) * kc;
}

/**
 * The A side: `rows` x `kc` from src at o (row stride sr, k stride sk), read w rows at a time.
 * Rows past the end are zero (only padded C rows see them, but stale values could be denormals,
 * which slow the multiplies down).
 */
export function stageA(
  src: Float32Array,
  o: number,
  sr: number,
  sk: number,
  rows: number,
  kc: number,
  w: number,
  dst: Float32Array,
  at: number,
): Staged {
  const rowsPad = roundUp(rows, w);
  if (sk === 1 && kc >= SHORT_LINE) {
    // k contiguous (x @ W): each row a line
    for (let i = 0; i < rows; i++) copyLine(src, o + i * sr, kc, dst, at + i * kc);
    dst.fill(0, at + rows * kc, at + rowsPad * kc);
    return { step: 1, row: kc, panel: w * kc };
  }
  if (sr === 1 && rows >= SHORT_LINE) {
    // rows contiguous (a transposed A, as in x^T @ dy): each step of k a line
    for (let p = 0, d = at; p < kc; p++, d += rowsPad) {
      copyLine(src, o + p * sk, rows, dst, d);
      for (let i = rows; i < rowsPad; i++) dst[d + i] = 0;
    }
    return { step: rowsPad, row: 1, panel: w };
  }
  pack(src, o, sr, sk, rows, kc, w, dst, at);
  return { step: w, row: 1, panel: w * kc };
}

/** Floats a B block of kc x cols may take, in any layout (column lines and their panels, at most). */
export function stagedBSize(kc: number, cols: number, w: number): number {
  return 2 * roundUp(kc, 4) * (roundUp(cols, w) + w);
}

/** The module's transpose (see transpose_module.ts), byte addresses. */
export type Transpose = (src: number, ld: number, dst: number, k4: number, np: number) => void;

/**
 * The B side: `kc` x `cols` from src at o (k stride sk, column stride sc), read w columns at a
 * time. Columns past the end are zero.
 */
export function stageB(
  src: Float32Array,
  o: number,
  sk: number,
  sc: number,
  cols: number,
  kc: number,
  w: number,
  dst: Float32Array,
  at: number,
  transpose: Transpose,
): Staged {
  if (sc === 1 && cols >= SHORT_LINE) {
    // columns contiguous (x @ W with W [in, out]): each step of k a line. The line stride is an
    // odd number of 64-byte cache lines: a power of two would map a panel's k steps to a few L1
    // sets, which then evict each other.
    const colsPad = roundUp(cols, w);
    const ld = (colsPad / 16) % 2 === 1 ? colsPad : colsPad + 16;
    for (let p = 0, d = at; p < kc; p++, d += ld) {
      copyLine(src, o + p * sk, cols, dst, d);
      for (let j = cols; j < colsPad; j++) dst[d + j] = 0;
    }
    return { step: ld, row: 1, panel: w };
  }
  if (sk === 1 && kc >= SHORT_LINE) {
    // k contiguous (x @ W^T with W [out, in]): each column a line, after the panels' space, then
    // transposed into the panels in wasm; k is padded to 4 (steps the kernel never reads)
    const kc4 = roundUp(kc, 4);
    const colsPad = roundUp(cols, w);
    const lines = at + kc4 * colsPad;
    for (let j = 0; j < cols; j++) copyLine(src, o + j * sc, kc, dst, lines + j * kc4);
    dst.fill(0, lines + cols * kc4, lines + colsPad * kc4);
    transpose(lines * 4, kc4 * 4, at * 4, kc4 / 4, colsPad / w);
    return { step: w, row: 1, panel: w * kc4 };
  }
  pack(src, o, sc, sk, cols, kc, w, dst, at);
  return { step: w, row: 1, panel: w * kc };
}

/**
 * Packs `rows` x `kc` (row stride sr, k stride sk) into panels of `w` rows stored k-major from
 * dst[at]: panel q, step p, row r at at + q*kc*w + p*w + r; rows past the end are zero.
 */
function pack(
  src: Float32Array,
  o: number,
  sr: number,
  sk: number,
  rows: number,
  kc: number,
  w: number,
  dst: Float32Array,
  at: number,
): void {
  for (let q = 0, row0 = 0; row0 < rows; q++, row0 += w) {
    const base = at + q * kc * w;
    const full = Math.min(w, rows - row0);
    if (sr === 1 && full === w) {
      // the panel's rows are adjacent in memory: w contiguous floats per step of k
      for (let p = 0, s = o + row0, d = base; p < kc; p++, s += sk, d += w) {
        for (let r = 0; r < w; r++) dst[d + r] = src[s + r]!;
      }
    } else {
      for (let r = 0; r < w; r++) {
        let d = base + r;
        if (r < full) {
          for (let p = 0, s = o + (row0 + r) * sr; p < kc; p++, s += sk, d += w) dst[d] = src[s]!;
        } else {
          for (let p = 0; p < kc; p++, d += w) dst[d] = 0;
        }
      }
    }
  }
}
