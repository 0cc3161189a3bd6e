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
  if (n < MIN_SIZE) return false;
  const k = wasmActivations();
  const mem = k?.f32(2 * CHUNK * 4);
  if (!k || !mem) return false;
  for (let done = 0; done < n; done += CHUNK) {
    const len = Math.min(CHUNK, n - done);
    const n4 = Math.ceil(len / 4);
    mem.set(src.subarray(s0 + done, s0 + done + len), 0);
    mem.fill(0, len, n4 * 4);
    k.geluTanh(0, CHUNK * 4, n4);
    out.set(mem.subarray(CHUNK, CHUNK + len), o0 + done);
  }
  return true;
}

/** out = g * gelu_tanh'(x) elementwise over n contiguous elements, as geluTanhWasm. */
export function geluTanhGradWasm(x: Float32Array, g: Float32Array, out: Float32Array, n: number): boolean {
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
    k.geluTanhGrad(0, CHUNK * 4, 2 * CHUNK * 4, n4);
    out.set(mem.subarray(2 * CHUNK, 2 * CHUNK + len), done);
  }
  return true;
}
