import { describe, expect, test } from "vitest";
import { geluTanhGradWasm, geluTanhWasm, logSoftmaxGradWasm, logSoftmaxWasm, siluGradWasm, siluWasm } from "../src/cpu/wasm/activations.js";

// The WASM SIMD GELU (tanh) kernels against the formula in float64, over a range that reaches
// the saturated tails and the clamp of their exp, at sizes that leave a partial vector, leave
// 0-3 vectors after the kernels' groups of four, and span several staging chunks.

const C = Math.sqrt(2 / Math.PI);
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(C * (x + 0.044715 * x ** 3)));
const geluGrad = (x: number) => {
  const t = Math.tanh(C * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * C * (1 + 3 * 0.044715 * x * x);
};

function inputs(n: number): Float32Array {
  const xs = new Float32Array(n);
  for (let i = 0; i < n; i++) xs[i] = Math.sin(i * 12.9898) * 4 * (1 + (i % 7)); // -28 .. 28
  xs.set([0, -0, 1e-30, -1e-30, 60, -60, 500, -500, 3.4e38, -3.4e38], 0);
  return xs;
}

describe("WASM SIMD gelu_tanh", () => {
  for (const n of [1024, 1030, 1035, 4099, 40001]) {
    test(`forward and backward on ${n} elements match float64 within float32 rounding`, () => {
      const xs = inputs(n);
      const out = new Float32Array(n + 8).fill(7);
      expect(geluTanhWasm(xs, 0, out, 4, n)).toBe(true);
      // elements outside [4, 4 + n) are untouched
      expect([...out.subarray(0, 4), ...out.subarray(4 + n)]).toEqual(new Array(8).fill(7));
      const gs = xs.map((_, i) => Math.cos(i));
      const grad = new Float32Array(n);
      expect(geluTanhGradWasm(xs, gs, grad, n)).toBe(true);
      for (let i = 0; i < n; i++) {
        const x = xs[i]!;
        const want = gelu(x);
        const err = Math.abs(out[4 + i]! - want);
        if (!(err <= 3e-7 * Math.max(1, Math.abs(want)))) expect.fail(`gelu(${x}): got ${out[4 + i]}, want ${want}`);
        const wantG = gs[i]! * geluGrad(x);
        const errG = Math.abs(grad[i]! - wantG);
        if (!(errG <= 1e-6 * Math.max(1, Math.abs(wantG)))) expect.fail(`gelu'(${x}) * ${gs[i]}: got ${grad[i]}, want ${wantG}`);
      }
    });
  }

  test("NaN stays NaN; small sizes are left to the JS loop", () => {
    const xs = new Float32Array(2048).fill(1);
    xs[5] = NaN;
    const out = new Float32Array(2048);
    geluTanhWasm(xs, 0, out, 0, 2048);
    expect(out[5]).toBeNaN();
    expect(out[4]).toBeCloseTo(gelu(1), 6);
    expect(geluTanhWasm(xs, 0, out, 0, 100)).toBe(false);
  });
});

describe("WASM SIMD logSoftmax and its backward", () => {
  function reference(x: Float32Array, R: number, L: number): Float64Array {
    const out = new Float64Array(R * L);
    for (let r = 0; r < R; r++) {
      const row = Array.from(x.subarray(r * L, (r + 1) * L));
      const max = Math.max(...row);
      if (max === -Infinity) {
        out.fill(-Infinity, r * L, (r + 1) * L);
        continue;
      }
      const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
      row.forEach((v, i) => (out[r * L + i] = v - lse));
    }
    return out;
  }

  for (const [R, L] of [
    [3, 4099],
    [300, 5],
    [40, 1000],
    [3, 20001],
  ] as const) {
    test(`${R} rows of ${L}: values within float32 rounding, -Infinity entries and rows kept`, () => {
      const x = new Float32Array(R * L);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 78.233) * 30;
      x[1] = -Infinity; // a masked class
      x.fill(-Infinity, L, 2 * L); // a fully masked row
      const out = new Float32Array(R * L);
      expect(logSoftmaxWasm(x, out, R, L)).toBe(true);
      const want = reference(x, R, L);
      for (let i = 0; i < want.length; i++) {
        if (want[i] === -Infinity) expect(out[i]).toBe(-Infinity);
        else if (!(Math.abs(out[i]! - want[i]!) <= 2e-6 * Math.max(1, Math.abs(want[i]!))))
          expect.fail(`element ${i}: got ${out[i]}, want ${want[i]}`);
      }
      // backward from those log-probabilities: g - e^y sum(g)
      const g = Float32Array.from(x, (_, i) => Math.cos(i));
      const grad = new Float32Array(R * L);
      expect(logSoftmaxGradWasm(out, g, grad, R, L)).toBe(true);
      for (let r = 0; r < R; r++) {
        let sum = 0;
        for (let i = r * L; i < (r + 1) * L; i++) sum += g[i]!;
        for (let i = r * L; i < (r + 1) * L; i++) {
          const w = g[i]! - Math.exp(out[i]!) * sum;
          if (!(Math.abs(grad[i]! - w) <= 2e-6 * Math.max(1, Math.abs(w)))) expect.fail(`grad ${i}: got ${grad[i]}, want ${w}`);
        }
      }
    });
  }

  test("a NaN makes its row NaN; rows under four wide are left to JS", () => {
    const x = new Float32Array(4 * 1024).fill(0.5);
    x[7] = NaN;
    const out = new Float32Array(x.length);
    logSoftmaxWasm(x, out, 4, 1024);
    expect(out[0]).toBeNaN();
    expect(out[1024]).toBeCloseTo(-Math.log(1024), 6);
    expect(logSoftmaxWasm(new Float32Array(3000), new Float32Array(3000), 1000, 3)).toBe(false);
  });
});

describe("WASM SIMD silu", () => {
  const silu = (x: number) => x / (1 + Math.exp(-x));
  const siluGrad = (x: number) => {
    const s = 1 / (1 + Math.exp(-x));
    return s * (1 + x * (1 - s));
  };
  for (const n of [1024, 1030, 1035, 40001]) {
    test(`forward and backward on ${n} elements match float64 within float32 rounding`, () => {
      const xs = inputs(n);
      const out = new Float32Array(n);
      expect(siluWasm(xs, 0, out, 0, n)).toBe(true);
      const gs = xs.map((_, i) => Math.cos(i));
      const grad = new Float32Array(n);
      expect(siluGradWasm(xs, gs, grad, n)).toBe(true);
      for (let i = 0; i < n; i++) {
        const x = xs[i]!;
        const want = silu(x);
        if (!(Math.abs(out[i]! - want) <= 3e-7 * Math.max(1, Math.abs(want)))) expect.fail(`silu(${x}): got ${out[i]}, want ${want}`);
        const wantG = gs[i]! * siluGrad(x);
        if (!(Math.abs(grad[i]! - wantG) <= 1e-6 * Math.max(1, Math.abs(wantG))))
          expect.fail(`silu'(${x}) * ${gs[i]}: got ${grad[i]}, want ${wantG}`);
      }
    });
  }
});
