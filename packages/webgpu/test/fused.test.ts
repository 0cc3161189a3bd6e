import { afterAll, describe, expect, it } from "vitest";
import { createWebGPUBackend, type WebGPUBackend } from "../src/index.js";
import { backend, reportSkip } from "./helpers/gpu.js";
import { expectClose, materialize, randomArray, transpose, whole } from "./helpers/reference.js";

reportSkip();

function rowsOf(v: number[], L: number): number[][] {
  const r: number[][] = [];
  for (let i = 0; i < v.length; i += L) r.push(v.slice(i, i + L));
  return r;
}

// The same kernels without subgroups (tree reductions in workgroup memory), when the adapter has them.
const plain: WebGPUBackend | null = backend?.features.subgroups ? await createWebGPUBackend({ disableFeatures: ["subgroups"] }) : null;
afterAll(() => plain?.destroy());

it.skipIf(!backend)("subgroups are used when the adapter has them and can be turned off", () => {
  expect(plain === null || !plain.features.subgroups).toBe(true);
});

const variants: [string, WebGPUBackend | null][] = [
  [`default features (subgroups: ${backend?.features.subgroups ?? "n/a"})`, backend],
  ...(plain ? ([["subgroups disabled", plain]] as [string, WebGPUBackend][]) : []),
];

describe.skipIf(!backend).each(variants)("webgpu fused row kernels, %s", (_, be) => {
  const b = be!;
  const f = b.fused!;

  for (const L of [5, 64, 1500]) {
    it(`softmax and logSoftmax over rows of ${L} (strided input, masked entries, a fully masked row)`, async () => {
      const data = randomArray(3 * L, L, -6, 6);
      for (let i = 0; i < L; i += 3) data[i] = -Infinity;
      for (let i = 2 * L; i < 3 * L; i++) data[i] = -Infinity;
      // Stored [L, 3] and viewed transposed, so the row axis has stride 3.
      const x = transpose(whole(b.upload(data, "float32"), data, [L, 3]), 0, 1);
      const rows = rowsOf(materialize(x.host), L);
      const soft = rows.flatMap((r) => {
        const m = Math.max(...r);
        if (m === -Infinity) return r.map(() => 0);
        const e = r.map((v) => Math.exp(v - m));
        const s = e.reduce((a, c) => a + c, 0);
        return e.map((v) => v / s);
      });
      const logSoft = rows.flatMap((r) => {
        const m = Math.max(...r);
        if (m === -Infinity) return r.map(() => -Infinity);
        const s = r.reduce((a, v) => a + Math.exp(v - m), 0);
        return r.map((v) => v - m - Math.log(s));
      });
      expectClose(await b.read(f.softmax!(x.gpu)), soft, 1e-5, "softmax");
      expectClose(await b.read(f.logSoftmax!(x.gpu)), logSoft, 1e-5, "logSoftmax");
    });

    it(`layerNorm and rmsNorm over rows of ${L}, with and without weight and bias`, async () => {
      const data = randomArray(4 * L, L + 1, -3, 5);
      const x = whole(b.upload(data, "float32"), data, [4, L]);
      const wData = randomArray(L, 2);
      const bData = randomArray(L, 3);
      const w = whole(b.upload(wData, "float32"), wData, [L]);
      const bias = whole(b.upload(bData, "float32"), bData, [L]);
      const eps = 1e-5;
      const rows = rowsOf(Array.from(data), L);
      const ln = (useW: boolean, useB: boolean) =>
        rows.flatMap((r) => {
          const mean = r.reduce((a, c) => a + c, 0) / L;
          const v = r.reduce((a, c) => a + (c - mean) ** 2, 0) / L;
          return r.map((c, i) => ((c - mean) / Math.sqrt(v + eps)) * (useW ? wData[i]! : 1) + (useB ? bData[i]! : 0));
        });
      const rms = (useW: boolean) =>
        rows.flatMap((r) => {
          const ms = r.reduce((a, c) => a + c * c, 0) / L;
          return r.map((c, i) => (c / Math.sqrt(ms + eps)) * (useW ? wData[i]! : 1));
        });
      expectClose(await b.read(f.layerNorm!(x.gpu, w.gpu, bias.gpu, eps)), ln(true, true), 1e-5, "layerNorm w+b");
      expectClose(await b.read(f.layerNorm!(x.gpu, null, bias.gpu, eps)), ln(false, true), 1e-5, "layerNorm b");
      expectClose(await b.read(f.layerNorm!(x.gpu, null, null, eps)), ln(false, false), 1e-5, "layerNorm");
      expectClose(await b.read(f.rmsNorm!(x.gpu, w.gpu, eps)), rms(true), 1e-5, "rmsNorm w");
      expectClose(await b.read(f.rmsNorm!(x.gpu, null, eps)), rms(false), 1e-5, "rmsNorm");
    });
  }
});
