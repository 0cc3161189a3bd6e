import { describe, expect, it } from "vitest";
import { searchScale, searchScaleJs } from "../src/quant/iq4.js";
import { largestMagnitude, makeQkx2Quants, makeQkx2QuantsJs, makeQxQuants, makeQxQuantsJs } from "../src/quant/k_quants.js";
import { searchKernels } from "../src/quant/searches_wasm.js";
import { Rng } from "../src/rng.js";

// The K-quant quantizers' searches (make_qkx2_quants: Q4_K, Q5_K, Q2_K's scale and min;
// make_qx_quants: Q6_K's scale; IQ4_NL / IQ4_XS's scale) run in WebAssembly where they can (quant/searches_wasm.ts): they must
// find the JS searches' levels, scales and mins bit for bit, over groups of every kind the weights
// of a model hold. (Not NaN or infinities: quantize refuses weights that are not finite before any
// search.)

const PARAMS = [
  { name: "Q4_K", n: 32, nmax: 15, rmin: -1, nstep: 20, useMad: false },
  { name: "Q5_K", n: 32, nmax: 31, rmin: -0.5, nstep: 15, useMad: false },
  { name: "Q2_K", n: 16, nmax: 3, rmin: -0.5, nstep: 15, useMad: true },
] as const;

/** Groups of n values: normal at several scales, all positive, constant, zero, one outlier, subnormal, huge, ties. */
function groups(n: number, rng: Rng): Float32Array[] {
  const out: Float32Array[] = [];
  const of = (fn: (i: number) => number) => out.push(Float32Array.from({ length: n }, (_, i) => fn(i)));
  for (const scale of [1e-3, 0.02, 1, 300]) for (let k = 0; k < 40; k++) of(() => rng.normal() * scale);
  for (let k = 0; k < 20; k++) of(() => 0.5 + rng.uniform());
  for (let k = 0; k < 20; k++) of(() => -0.5 - rng.uniform());
  of(() => 0.25);
  of(() => -3);
  of(() => 0);
  of((i) => (i === 7 ? 40 : rng.normal() * 0.01));
  of(() => rng.normal() * 1e-39);
  of(() => rng.normal() * 1e30);
  of((i) => (i % 4) * 0.5 - 0.75); // levels that land on ties
  of(() => Math.round(rng.normal() * 4) / 8); // values on a coarse grid
  // IQ4's first scale is 1 where the largest is 127: values halfway between two of its levels tie
  const midpoints = [-115.5, -93.5, -74, -57, -42, -28.5, -16, -4.5, 7, 19, 31.5, 45.5, 61, 79, 101];
  if (n === 32) of((i) => (i === 0 ? 127 : midpoints[i % midpoints.length]!));
  return out;
}

/** makeQkx2Quants' weights for a group, as quantize_row_q4_K_ref makes them (rms + |x|), or Q2_K's |x|. */
function weightsOf(x: Float32Array, q2k: boolean): Float32Array {
  const f = Math.fround;
  let sumX2 = 0;
  for (const v of x) sumX2 = f(sumX2 + f(v * v));
  const avX = f(Math.sqrt(f(sumX2 / x.length)));
  return Float32Array.from(x, (v) => (q2k ? Math.abs(v) : f(avX + Math.abs(v))));
}

describe("the K-quant search in WebAssembly", () => {
  it("compiles here", () => {
    expect(searchKernels()).not.toBeNull();
  });

  for (const p of PARAMS) {
    it(`${p.name}: the JS search's levels, scale and min, bit for bit`, () => {
      const rng = new Rng(p.nmax);
      let compared = 0;
      for (const x of groups(p.n, rng)) {
        const w = weightsOf(x, p.useMad);
        const [La, Lb, aux] = [new Uint8Array(p.n + 3), new Uint8Array(p.n + 3), new Uint8Array(32)];
        // at an offset into the row, as the quantizers call it
        const wasm = makeQkx2Quants(p.n, p.nmax, x, 0, w, La, 3, aux, p.rmin, 0.1, p.nstep, p.useMad);
        const js = makeQkx2QuantsJs(p.n, p.nmax, x, 0, w, Lb, 3, aux, p.rmin, 0.1, p.nstep, p.useMad);
        expect(Array.from(La), `levels of group ${compared}`).toEqual(Array.from(Lb));
        expect(Object.is(wasm[0], js[0]) && Object.is(wasm[1], js[1]), `scale and min of group ${compared}: ${wasm} vs ${js}`).toBe(true);
        compared++;
      }
      expect(compared).toBeGreaterThan(200);
    });
  }

  it("Q6_K (make_qx_quants, 16 values, levels -32..31): the JS search's levels and scale, bit for bit", () => {
    const rng = new Rng(6);
    let compared = 0;
    for (const x of groups(16, rng)) {
      const [La, Lb] = [new Uint8Array(21), new Uint8Array(21)];
      const wasm = makeQxQuants(16, 32, x, 0, La, 5);
      const js = makeQxQuantsJs(16, 32, x, 0, Lb, 5);
      expect(Array.from(La), `levels of group ${compared}`).toEqual(Array.from(Lb));
      expect(Object.is(wasm, js), `scale of group ${compared}: ${wasm} vs ${js}`).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(200);
  });

  it("IQ4_NL / IQ4_XS (quantize_row_iq4_nl_impl's scale, 32 values): the JS search's scale, bit for bit", () => {
    const rng = new Rng(4);
    let compared = 0;
    for (const x of groups(32, rng)) {
      const max = largestMagnitude(x, 0, 32);
      if (max === 0) continue; // the quantizer takes an all-zero group before any search
      const wasm = searchScale(x, 0, max, 7);
      const js = searchScaleJs(x, 0, max, 7);
      expect(Object.is(wasm, js), `scale of group ${compared}: ${wasm} vs ${js}`).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThan(200);
  });
});
