import "./relaxed-simd-flag.js";
import { afterAll, describe, expect, test } from "vitest";
import {
  CpuBackend,
  Rng,
  causalMask,
  scaledDotProductAttention,
  tensor,
  type Backend,
  type FusedKernels,
  type Tensor,
} from "../src/index.js";
import { hasRelaxedSimd } from "../src/cpu/resident/modules.js";
import { residentStats } from "../src/cpu/resident/runtime.js";

// The fused attention backward (FusedKernels.attentionGrad: one resident kernel over (batch, kv
// head) entries) against the backward autograd composes from primitives on the same inputs, and
// the forward's block kernel (16 queries a head or more) against the composed forward:
// multi-head, grouped- and multi-query heads, lengths and head sizes that are no power of two
// (and longer than the kernel's 32-row blocks), causal and padding masks with fully masked rows, a
// constant bias (ALiBi); the same bits on 1, 2 and 3 threads, with plain and relaxed SIMD.

/** The CPU backend without the fused attention backward (or, `forward`, without either), so autograd composes it. */
class ComposedCpuBackend extends CpuBackend {
  override readonly fused: FusedKernels;
  constructor(forward: boolean) {
    super({ threads: 1, relaxedSimd: false });
    const own = new CpuBackend({ threads: 1, relaxedSimd: false }).fused;
    this.fused = { ...own, attentionGrad: undefined, ...(forward ? { attention: undefined } : {}) };
  }
}
const composed = new ComposedCpuBackend(false);
const composedForward = new ComposedCpuBackend(true);
const fma = hasRelaxedSimd();
const plain = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: false }));
const relaxed = fma ? [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: true })) : [];
afterAll(() => {
  for (const b of [composed, composedForward, ...plain, ...relaxed]) b.close();
});

interface Case {
  name: string;
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  mask: "none" | "causal" | "padding";
  bias?: boolean;
  /** q, k and v stored [B, seq, heads, D] and viewed [B, heads, seq, D], as Attention makes them. */
  strided?: boolean;
}

const cases: Case[] = [
  { name: "GPT-2 training shape, causal", B: 2, H: 4, Hkv: 4, T: 128, S: 128, D: 64, mask: "causal", strided: true },
  { name: "multi-head, odd sizes, causal", B: 2, H: 3, Hkv: 3, T: 37, S: 37, D: 24, mask: "causal", strided: true },
  { name: "grouped-query, head size 67, padding", B: 2, H: 6, Hkv: 2, T: 45, S: 45, D: 67, mask: "padding", strided: true },
  { name: "multi-query, longer keys (a cache), causal", B: 1, H: 5, Hkv: 1, T: 7, S: 19, D: 33, mask: "causal" },
  { name: "grouped-query, no mask, bias", B: 1, H: 4, Hkv: 2, T: 70, S: 70, D: 16, mask: "none", bias: true, strided: true },
  { name: "causal with bias (ALiBi), head size 3", B: 2, H: 2, Hkv: 1, T: 9, S: 9, D: 3, mask: "causal", bias: true },
];

const random = (n: number, seed: number): number[] => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.normal());
};

/** Causal over the last T keys, or a padding mask (batch b's last 3b keys masked); batch 0's first query row masked whole. */
function maskHost(c: Case): boolean[] | null {
  if (c.mask === "none") return null;
  const causal = causalMask(c.T, c.S, composed).dataSync() as Uint8Array;
  const host: boolean[] = [];
  for (let b = 0; b < c.B; b++) {
    for (let t = 0; t < c.T; t++) {
      for (let s = 0; s < c.S; s++) {
        const open = c.mask === "causal" ? causal[t * c.S + s] !== 0 : s < c.S - 3 * b;
        host.push(b === 0 && t === 0 ? false : open);
      }
    }
  }
  return host;
}

/** The output of attention(q, k, v), then dq, dk and dv of sum(attention(q, k, v) * w) on `backend`. */
function run(backend: Backend, c: Case, poison = false): { out: Float32Array; grads: Float32Array[] } {
  const seed = c.B * 1000 + c.T * 10 + c.D;
  const leaf = (heads: number, seq: number, s: number): { leaf: Tensor; used: Tensor } => {
    const data = random(c.B * heads * seq * c.D, s);
    if (!c.strided) {
      const t = tensor(data, { shape: [c.B, heads, seq, c.D], backend, requiresGrad: true });
      return { leaf: t, used: t };
    }
    const t = tensor(data, { shape: [c.B, seq, heads, c.D], backend, requiresGrad: true });
    return { leaf: t, used: t.transpose(1, 2) };
  };
  const q = leaf(c.H, c.T, seed);
  const k = leaf(c.Hkv, c.S, seed + 1);
  // poison: v's last key NaN (masked for every query row but the last in a causal case)
  const v = poison ? leafWithNaN(backend, c, seed + 2) : leaf(c.Hkv, c.S, seed + 2);
  const host = maskHost(c);
  const mask = host ? tensor(host, { shape: [c.B, 1, c.T, c.S], dtype: "bool", backend }) : null;
  const bias = c.bias ? tensor(random(c.H * c.S, seed + 3), { shape: [c.H, 1, c.S], backend }) : null;
  const w = tensor(random(c.B * c.H * c.T * c.D, seed + 4), { shape: [c.B, c.H, c.T, c.D], backend });
  const out = scaledDotProductAttention(q.used, k.used, v.used, { mask, bias, scale: 0.3 });
  const outData = out.dataSync() as Float32Array;
  if (poison) return { out: outData, grads: [] };
  out.mul(w).sum().backward();
  return { out: outData, grads: [q, k, v].map((x) => x.leaf.grad!.dataSync() as Float32Array) };
}

const grads = (backend: Backend, c: Case): Float32Array[] => run(backend, c).grads;

/** v [B, Hkv, S, D] with the last key's row NaN. */
function leafWithNaN(backend: Backend, c: Case, seed: number): { leaf: Tensor; used: Tensor } {
  const data = random(c.B * c.Hkv * c.S * c.D, seed);
  for (let b = 0; b < c.B; b++)
    for (let h = 0; h < c.Hkv; h++) for (let d = 0; d < c.D; d++) data[((b * c.Hkv + h) * c.S + c.S - 1) * c.D + d] = Number.NaN;
  const t = tensor(data, { shape: [c.B, c.Hkv, c.S, c.D], backend });
  return { leaf: t, used: t };
}

/** Runs fn and counts the calls of kernel `name` (the fused backward's by default). */
function fusedCalls<R>(fn: () => R, name = "attention_grad"): { result: R; calls: number } {
  const before = residentStats.calls.get(name) ?? 0;
  const result = fn();
  return { result, calls: (residentStats.calls.get(name) ?? 0) - before };
}

const close = (got: Float32Array, want: Float32Array, what: string) => {
  expect(got.length, what).toBe(want.length);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!) / Math.max(1, Math.abs(want[i]!));
    if (!(err <= 2e-5)) expect.fail(`${what}, element ${i}: fused ${got[i]}, composed ${want[i]}`);
    worst = Math.max(worst, err);
  }
  return worst;
};

describe("fused attention backward", () => {
  for (const c of cases) {
    test(`${c.name}: equals the composed backward; the same bits on 1, 2 and 3 threads`, () => {
      const want = fusedCalls(() => grads(composed, c));
      expect(want.calls, "the composed backend composes").toBe(0);
      for (const [kind, backends] of [
        ["plain SIMD", plain],
        ["relaxed SIMD", relaxed],
      ] as const) {
        const runs = backends.map((b) => fusedCalls(() => grads(b, c)));
        for (const run of runs) expect(run.calls, `${kind}: the fused kernel ran`).toBe(1);
        runs[0]?.result.forEach((g, i) => close(g, want.result[i]!, `${kind} ${["dq", "dk", "dv"][i]}`));
        for (const run of runs.slice(1)) expect(run.result, `${kind}: 1 thread against more`).toEqual(runs[0]!.result);
      }
      if (c.mask !== "none") {
        // batch 0's first query row attends to nothing: no gradient reaches its q
        const dq = grads(plain[0]!, c)[0]!;
        const row = c.strided ? Array.from({ length: c.H * c.D }, (_, i) => dq[i]!) : Array.from({ length: c.D }, (_, i) => dq[i]!);
        expect(row.every((x) => x === 0)).toBe(true);
      }
    });
  }

  for (const c of cases) {
    const block = c.T >= 16;
    test(`${c.name}: the forward (${block ? "block" : "row"} kernel) equals the composed forward; the same bits on 1, 2 and 3 threads`, () => {
      const want = run(composedForward, c).out;
      for (const [kind, backends] of [
        ["plain SIMD", plain],
        ["relaxed SIMD", relaxed],
      ] as const) {
        const runs = backends.map((b) => fusedCalls(() => run(b, c).out, "attention_blocks"));
        for (const r of runs) expect(r.calls, `${kind}: the block kernel ran`).toBe(block ? 1 : 0);
        if (runs[0]) close(runs[0].result, want, `${kind} forward`);
        for (const r of runs.slice(1)) expect(r.result, `${kind}: 1 thread against more`).toEqual(runs[0]!.result);
      }
      if (c.mask === "causal") {
        // v's last key is NaN: only each head's last query reaches it (masked for the others, so
        // its row of v must not reach them, not even as 0 x NaN)
        const out = run(plain[1]!, c, true).out;
        out.forEach((x, i) => {
          const t = Math.floor(i / c.D) % c.T;
          if (Number.isNaN(x) !== (t === c.T - 1)) expect.fail(`element ${i} (query ${t}): ${x}`);
        });
      }
    });
  }

  test("a bias that needs a gradient, and soft-capped scores, take the composed backward", () => {
    const backend = plain[1]!;
    const c = cases[1]!;
    const q = tensor(random(c.B * c.H * c.T * c.D, 1), { shape: [c.B, c.H, c.T, c.D], backend, requiresGrad: true });
    const k = tensor(random(c.B * c.Hkv * c.S * c.D, 2), { shape: [c.B, c.Hkv, c.S, c.D], backend, requiresGrad: true });
    const v = tensor(random(c.B * c.Hkv * c.S * c.D, 3), { shape: [c.B, c.Hkv, c.S, c.D], backend, requiresGrad: true });
    const bias = tensor(random(c.H * c.S, 4), { shape: [c.H, 1, c.S], backend, requiresGrad: true });
    const calls = fusedCalls(() => {
      scaledDotProductAttention(q, k, v, { bias }).sum().backward();
      scaledDotProductAttention(q, k, v, { softcap: 5 }).sum().backward();
      return [];
    }).calls;
    expect(calls).toBe(0);
    expect(bias.grad?.shape).toEqual([c.H, 1, c.S]);
  });
});
