/**
 * Matrix-vector product y[i] = sum_k X[i, k] v[k] for the M = 1 and N = 1 shapes of matmul (token-
 * by-token decoding, attention over a KV cache). A GEMM would pack the lone row into a 4-row panel
 * and waste 3/4 of its work; here the loop order follows the memory layout instead: dot products
 * when X's rows are contiguous (x @ W^T with a [out, in] weight), row sweeps (axpy) when its
 * columns are.
 */
export function gemvF32(
  rows: number,
  K: number,
  X: Float32Array,
  ox: number,
  sxi: number,
  sxk: number,
  v: Float32Array,
  ov: number,
  sv: number,
  y: Float32Array,
  oy: number,
): void {
  if (sxk === 1 || Math.abs(sxk) <= Math.abs(sxi)) {
    dots(rows, K, X, ox, sxi, sxk, v, ov, sv, y, oy);
  } else {
    sweeps(rows, K, X, ox, sxi, sxk, v, ov, sv, y, oy);
  }
}

/** Four rows at a time share each load of v. */
function dots(
  rows: number,
  K: number,
  X: Float32Array,
  ox: number,
  sxi: number,
  sxk: number,
  v: Float32Array,
  ov: number,
  sv: number,
  y: Float32Array,
  oy: number,
): void {
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    let x0 = ox + i * sxi;
    let x1 = x0 + sxi;
    let x2 = x1 + sxi;
    let x3 = x2 + sxi;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let k = 0, j = ov; k < K; k++, j += sv, x0 += sxk, x1 += sxk, x2 += sxk, x3 += sxk) {
      const t = v[j]!;
      s0 += X[x0]! * t;
      s1 += X[x1]! * t;
      s2 += X[x2]! * t;
      s3 += X[x3]! * t;
    }
    y[oy + i] = s0;
    y[oy + i + 1] = s1;
    y[oy + i + 2] = s2;
    y[oy + i + 3] = s3;
  }
  for (; i < rows; i++) {
    let s = 0;
    for (let k = 0, j = ov, x = ox + i * sxi; k < K; k++, j += sv, x += sxk) s += X[x]! * v[j]!;
    y[oy + i] = s;
  }
}

/** Accumulates v[k] * X[:, k] column by column into float64 sums (X's columns are contiguous). */
function sweeps(
  rows: number,
  K: number,
  X: Float32Array,
  ox: number,
  sxi: number,
  sxk: number,
  v: Float32Array,
  ov: number,
  sv: number,
  y: Float32Array,
  oy: number,
): void {
  const acc = new Float64Array(rows);
  let k = 0;
  // Four columns per sweep: a quarter of the passes over the accumulator.
  for (; k + 4 <= K; k += 4) {
    const t0 = v[ov + k * sv]!;
    const t1 = v[ov + (k + 1) * sv]!;
    const t2 = v[ov + (k + 2) * sv]!;
    const t3 = v[ov + (k + 3) * sv]!;
    let x0 = ox + k * sxk;
    let x1 = x0 + sxk;
    let x2 = x1 + sxk;
    let x3 = x2 + sxk;
    for (let i = 0; i < rows; i++, x0 += sxi, x1 += sxi, x2 += sxi, x3 += sxi) {
      acc[i] += X[x0]! * t0 + X[x1]! * t1 + X[x2]! * t2 + X[x3]! * t3;
    }
  }
  for (; k < K; k++) {
    const t = v[ov + k * sv]!;
    let x = ox + k * sxk;
    for (let i = 0; i < rows; i++, x += sxi) acc[i] += X[x]! * t;
  }
  for (let i = 0; i < rows; i++) y[oy + i] = acc[i]!;
}
