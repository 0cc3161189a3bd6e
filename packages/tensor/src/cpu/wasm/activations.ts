import { wasmActivations } from "./runtime.js";

/** Floats per kernel call: the operands of one call stay in cache, and wasm memory stays small. */
const CHUNK = 1 << 14;
/** Below this many elements the JS loop costs about what staging does. */
const MIN_SIZE = 1024;

/**
 * out[o0 + t] = gelu_tanh(src[s0 + t]) for t < n on the WASM SIMD kernel, in chunks staged
 * through wasm memory. Returns false (nothing written) when the module is unavailable or n is
 * small, so the caller runs the JS loop.
 */
export function geluTanhWasm(src: Float32Array, s0: number, out: Float32Array, o0: number, n: number): boolean {
  return activationWasm("geluTanh", src, s0, out, o0, n);
}

/** out[o0 + t] = silu(src[s0 + t]) for t < n, as geluTanhWasm. */
export function siluWasm(src: Float32Array, s0: number, out: Float32Array, o0: number, n: number): boolean {
  return activationWasm("silu", src, s0, out, o0, n);
}

function activationWasm(kernel: "geluTanh" | "silu", src: Float32Array, s0: number, out: Float32Array, o0: number, n: number): boolean {
  if (n < MIN_SIZE) return false;
  const k = wasmActivations();
  const mem = k?.f32(2 * CHUNK * 4);
  if (!k || !mem) return false;
  for (let done = 0; done < n; done += CHUNK) {
    const len = Math.min(CHUNK, n - done);
    const n4 = Math.ceil(len / 4);
    mem.set(src.subarray(s0 + done, s0 + done + len), 0);
    mem.fill(0, len, n4 * 4);
    k[kernel](0, CHUNK * 4, n4);
    out.set(mem.subarray(CHUNK, CHUNK + len), o0 + done);
  }
  return true;
}

/** out = g * gelu_tanh'(x) elementwise over n contiguous elements, as geluTanhWasm. */
export function geluTanhGradWasm(x: Float32Array, g: Float32Array, out: Float32Array, n: number): boolean {
  return activationGradWasm("geluTanhGrad", x, g, out, n);
}

/** out = g * silu'(x), as geluTanhGradWasm. */
export function siluGradWasm(x: Float32Array, g: Float32Array, out: Float32Array, n: number): boolean {
  return activationGradWasm("siluGrad", x, g, out, n);
}

function activationGradWasm(kernel: "geluTanhGrad" | "siluGrad", x: Float32Array, g: Float32Array, out: Float32Array, n: number): boolean {
  if (n < MIN_SIZE) return false;
  const k = wasmActivations();
  const mem = k?.f32(3 * CHUNK * 4);
  if (!k || !mem) return false;
  for (let done = 0; done < n; done += CHUNK) {
    const len = Math.min(CHUNK, n - done);
    const n4 = Math.ceil(len / 4);
    mem.set(x.subarray(done, done + len), 0);
    mem.fill(0, len, n4 * 4);
    mem.set(g.subarray(done, done + len), CHUNK);
    mem.fill(0, CHUNK + len, CHUNK + n4 * 4);
    k[kernel](0, CHUNK * 4, 2 * CHUNK * 4, n4);
    out.set(mem.subarray(2 * CHUNK, 2 * CHUNK + len), done);
  }
  return true;
}

/**
 * logSoftmax of each row of data [R, L] into out: the max in JS, the sum of e^(x - max) on the
 * SIMD exp (accumulated in float64), then x - (max + log sum). Rows are staged a chunk at a time,
 * padded to whole vectors with -Infinity. Returns false (nothing written) as geluTanhWasm does.
 */
export function logSoftmaxWasm(data: Float32Array, out: Float32Array, R: number, L: number): boolean {
  if (R * L < MIN_SIZE || L < 4) return false;
  const L4 = Math.ceil(L / 4) * 4;
  const rows = Math.max(1, Math.floor(CHUNK / L4));
  const k = wasmActivations();
  const sumAt = rows * L4; // in floats; four float64 partial sums
  const mem = k?.f32((sumAt + 8) * 4);
  if (!k || !mem) return false;
  const sums = new Float64Array(mem.buffer, sumAt * 4, 4);
  for (let r0 = 0; r0 < R; r0 += rows) {
    const nr = Math.min(rows, R - r0);
    for (let r = 0; r < nr; r++) {
      const o = (r0 + r) * L;
      mem.set(data.subarray(o, o + L), r * L4);
      mem.fill(-Infinity, r * L4 + L, (r + 1) * L4);
    }
    for (let r = 0; r < nr; r++) {
      const o = (r0 + r) * L;
      let max = -Infinity;
      for (let i = o; i < o + L; i++) if (data[i]! > max) max = data[i]!;
      if (max === -Infinity) {
        out.fill(-Infinity, o, o + L);
        continue;
      }
      k.expSum(r * L4 * 4, L4 / 4, max, sumAt * 4);
      const shift = max + Math.log(sums[0]! + sums[1]! + sums[2]! + sums[3]!);
      for (let i = o; i < o + L; i++) out[i] = data[i]! - shift;
    }
  }
  return true;
}

/** out = g - e^y sum(g) along each row of [R, L] (logSoftmax's backward), on the SIMD exp. */
export function logSoftmaxGradWasm(y: Float32Array, g: Float32Array, out: Float32Array, R: number, L: number): boolean {
  if (R * L < MIN_SIZE || L < 4) return false;
  const L4 = Math.ceil(L / 4) * 4;
  const rows = Math.max(1, Math.floor(CHUNK / L4));
  const k = wasmActivations();
  const mem = k?.f32(3 * rows * L4 * 4);
  if (!k || !mem) return false;
  const gAt = rows * L4;
  const dAt = 2 * rows * L4;
  for (let r0 = 0; r0 < R; r0 += rows) {
    const nr = Math.min(rows, R - r0);
    for (let r = 0; r < nr; r++) {
      const o = (r0 + r) * L;
      mem.set(y.subarray(o, o + L), r * L4);
      mem.fill(-Infinity, r * L4 + L, (r + 1) * L4);
      mem.set(g.subarray(o, o + L), gAt + r * L4);
      mem.fill(0, gAt + r * L4 + L, gAt + (r + 1) * L4);
    }
    for (let r = 0; r < nr; r++) {
      const o = (r0 + r) * L;
      let sum = 0;
      for (let i = o; i < o + L; i++) sum += g[i]!;
      k.expScaleSub(r * L4 * 4, (gAt + r * L4) * 4, (dAt + r * L4) * 4, L4 / 4, sum);
    }
    for (let r = 0; r < nr; r++) out.set(mem.subarray(dAt + r * L4, dAt + r * L4 + L), (r0 + r) * L);
  }
  return true;
}
