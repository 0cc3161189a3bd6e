/**
 * The fused attention kernel against attention composed from primitives on the CPU backend:
 * multi-head, grouped- and multi-query heads, the T = 1 decode step over a long KV cache, masks
 * (with a fully masked row), ALiBi-style bias, strided q/k/v views, head dims above and below
 * the workgroup size. Gradients (composed from primitives either way) must match too.
 */
import { afterAll, describe, expect, it } from "vitest";
import { concat, cpuBackend, noGrad, scaledDotProductAttention, tensor, where, Rng, type Backend, type Tensor } from "@llm/tensor";
import { createWebGPUBackend, TILED_MIN_SCORES, type AttentionKernel, type WebGPUBackend } from "../src/index.js";
import { backend, reportSkip } from "./helpers/gpu.js";
import { expectClose } from "./helpers/reference.js";

reportSkip();

// The same kernel with tree reductions in workgroup memory, when the adapter has subgroups.
const plain: WebGPUBackend | null = backend?.features.subgroups ? await createWebGPUBackend({ disableFeatures: ["subgroups"] }) : null;
afterAll(() => plain?.destroy());
const variants: [string, WebGPUBackend | null][] = [
  [`default features (subgroups: ${backend?.features.subgroups ?? "n/a"})`, backend],
  ...(plain ? ([["subgroups disabled", plain]] as [string, WebGPUBackend][]) : []),
];

interface Case {
  name: string;
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  mask?: boolean;
  bias?: boolean;
  /** q stored [B, H, T, D] (not a transposed view), so grouped heads fold into the matmul rows. */
  qContiguous?: boolean;
  /** A sliding window: each query sees at most this many keys (the newest), as Mistral's mask. */
  window?: number;
  /** Force a kernel (else the backend's choice by size). */
  kernel?: AttentionKernel;
}

const cases: Case[] = [
  // Up to ROW_KERNEL_MAX_QUERIES queries: the one-dispatch row kernel.
  { name: "row kernel: multi-head with causal mask", B: 2, H: 3, Hkv: 3, T: 4, S: 7, D: 8, mask: true },
  { name: "row kernel: grouped-query with mask and bias", B: 2, H: 4, Hkv: 2, T: 3, S: 6, D: 5, mask: true, bias: true },
  { name: "row kernel: multi-query, no mask", B: 1, H: 4, Hkv: 1, T: 4, S: 9, D: 16 },
  { name: "decode over a 300-key cache (key slices summed in the workgroup)", B: 2, H: 6, Hkv: 2, T: 1, S: 300, D: 32, mask: true },
  {
    name: "decode over 1100 keys, head dim 80 (more dims than threads per slice)",
    B: 2,
    H: 2,
    Hkv: 2,
    T: 1,
    S: 1100,
    D: 80,
    bias: true,
    kernel: "gemm",
  },
  { name: "head dim 100 over a 64-thread workgroup", B: 1, H: 2, Hkv: 1, T: 2, S: 10, D: 100, mask: true },
  // More queries: two matmuls around the row pass.
  { name: "gemm path: multi-head with causal mask", B: 2, H: 3, Hkv: 3, T: 5, S: 7, D: 8, mask: true, kernel: "gemm" },
  {
    name: "gemm path: grouped-query, mask and bias, k broadcast over the group",
    B: 2,
    H: 4,
    Hkv: 2,
    T: 9,
    S: 11,
    D: 8,
    mask: true,
    bias: true,
    kernel: "gemm",
  },
  {
    name: "gemm path: multi-query, group folded into the rows",
    B: 1,
    H: 4,
    Hkv: 1,
    T: 6,
    S: 6,
    D: 16,
    mask: true,
    qContiguous: true,
    kernel: "gemm",
  },
  { name: "gemm path: 300 keys, head dim 80, bias", B: 1, H: 2, Hkv: 2, T: 12, S: 300, D: 80, bias: true, kernel: "gemm" },
  // The tiled (flash-style) kernel, forced at sizes where "auto" would not pick it: ragged query
  // tiles and key blocks, every head-dim tile shape (Br 16/8/4), masks, bias, windows, groups.
  // It uses no subgroup operations, so it runs in the default variant only (SwiftShader takes
  // ~10 s to compile it, once per mask/bias combination: two here).
  { name: "tiled: multi-head, causal mask, ragged tiles", B: 2, H: 3, Hkv: 3, T: 37, S: 37, D: 8, mask: true, kernel: "tiled" },
  {
    name: "tiled: grouped-query, mask and bias, head dim 64",
    B: 2,
    H: 4,
    Hkv: 2,
    T: 20,
    S: 45,
    D: 64,
    mask: true,
    bias: true,
    kernel: "tiled",
  },
  { name: "tiled: multi-query, mask, head dim 128", B: 1, H: 4, Hkv: 1, T: 9, S: 40, D: 128, mask: true, kernel: "tiled" },
  {
    name: "tiled: head dim 80, mask and bias, q contiguous",
    B: 1,
    H: 2,
    Hkv: 1,
    T: 12,
    S: 70,
    D: 80,
    mask: true,
    bias: true,
    qContiguous: true,
    kernel: "tiled",
  },
  { name: "tiled: head dim 256, fewer queries than a tile", B: 1, H: 2, Hkv: 2, T: 3, S: 19, D: 256, mask: true, kernel: "tiled" },
  {
    name: "tiled: sliding window of 7 over 50 keys, grouped",
    B: 1,
    H: 4,
    Hkv: 2,
    T: 50,
    S: 50,
    D: 32,
    mask: true,
    window: 7,
    kernel: "tiled",
  },
];

/** Attention from primitives with explicit per-head keys: the composed reference. */
function composed(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, bias: Tensor | null, scale: number): Tensor {
  const H = q.shape[1]!;
  const group = H / k.shape[1]!;
  const heads = Array.from({ length: H }, (_, h) => Math.floor(h / group));
  const kx = concat(
    heads.map((j) => k.narrow(1, j, 1)),
    1,
  );
  const vx = concat(
    heads.map((j) => v.narrow(1, j, 1)),
    1,
  );
  let scores = q.matmul(kx.transpose(-1, -2)).mul(scale);
  if (bias) scores = scores.add(bias);
  if (mask) scores = where(mask, scores, -Infinity);
  return scores.softmax(-1).matmul(vx);
}

function hostInputs(c: Case) {
  const rng = new Rng(c.S * 31 + c.D);
  const values = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  // Causal over the last T keys; batch 0's first query row sees no key at all.
  const mask = new Uint8Array(c.B * c.T * c.S);
  for (let b = 0; b < c.B; b++)
    for (let t = 0; t < c.T; t++)
      for (let j = 0; j < c.S; j++) {
        const newest = t + c.S - c.T;
        const seen = j <= newest && (c.window === undefined || j > newest - c.window);
        mask[(b * c.T + t) * c.S + j] = b === 0 && t === 0 ? 0 : seen ? 1 : 0;
      }
  return {
    q: values(c.B * c.T * c.H * c.D),
    // One extra key in front, sliced off below, so k and v views start at an offset (like a cache slice).
    k: values(c.B * (c.S + 1) * c.Hkv * c.D),
    v: values(c.B * (c.S + 1) * c.Hkv * c.D),
    bias: values(c.H * c.S),
    mask,
  };
}

/** q, k, v as Attention passes them: stored [B, seq, heads, D], viewed [B, heads, seq, D]. */
function onBackend(c: Case, h: ReturnType<typeof hostInputs>, be: Backend, requiresGrad = false) {
  const q = tensor(h.q, { shape: c.qContiguous ? [c.B, c.H, c.T, c.D] : [c.B, c.T, c.H, c.D], backend: be, requiresGrad });
  const kAll = tensor(h.k, { shape: [c.B, c.S + 1, c.Hkv, c.D], backend: be, requiresGrad });
  const vAll = tensor(h.v, { shape: [c.B, c.S + 1, c.Hkv, c.D], backend: be, requiresGrad });
  const mask = c.mask ? tensor(h.mask, { shape: [c.B, 1, c.T, c.S], dtype: "bool", backend: be }) : null;
  const bias = c.bias ? tensor(h.bias, { shape: [c.H, 1, c.S], backend: be, requiresGrad }) : null;
  const views = {
    q: c.qContiguous ? q : q.transpose(1, 2),
    k: kAll.narrow(1, 1, c.S).transpose(1, 2),
    v: vAll.narrow(1, 1, c.S).transpose(1, 2),
  };
  return { leaves: [q, kAll, vAll, ...(bias ? [bias] : [])], mask, bias, ...views };
}

describe.skipIf(!backend).each(variants)("webgpu fused attention equals the composed path on the CPU, %s", (_, be) => {
  const gpu = be!;

  it("is registered as a fused kernel", () => {
    expect(typeof gpu.fused?.attention).toBe("function");
  });

  for (const c of cases) {
    it.skipIf(c.kernel === "tiled" && gpu !== backend)(c.name, async () => {
      const h = hostInputs(c);
      const scale = 1 / Math.sqrt(c.D);
      const cpu = onBackend(c, h, cpuBackend);
      const expected = (await composed(cpu.q, cpu.k, cpu.v, cpu.mask, cpu.bias, scale).data()) as Float32Array;
      const g = onBackend(c, h, gpu);
      gpu.attentionKernel = c.kernel ?? "auto";
      let out: Tensor;
      try {
        out = scaledDotProductAttention(g.q, g.k, g.v, { mask: g.mask, bias: g.bias, scale });
      } finally {
        gpu.attentionKernel = "auto";
      }
      expect(out.shape).toEqual([c.B, c.H, c.T, c.D]);
      const got = (await out.data()) as Float32Array;
      expectClose(got, expected, 2e-5, c.name);
      if (c.mask) expectClose(got.slice(0, c.D), new Float32Array(c.D), 0, "the fully masked row");
    });
  }

  it("gradients of q, k, v and bias equal the CPU backend's (grouped-query, mask, bias)", async () => {
    const c = cases[1]!;
    const h = hostInputs(c);
    const weights = Float32Array.from({ length: c.B * c.H * c.T * c.D }, (_, i) => Math.sin(i));
    const grads = async (be: Backend) => {
      const x = onBackend(c, h, be, true);
      const out = scaledDotProductAttention(x.q, x.k, x.v, { mask: x.mask, bias: x.bias, scale: 0.6 });
      out
        .mul(tensor(weights, { shape: [...out.shape], backend: be }))
        .sum()
        .backward();
      return Promise.all(x.leaves.map(async (l) => (await l.grad!.data()) as Float32Array));
    };
    const expected = await grads(cpuBackend);
    const got = await grads(gpu);
    got.forEach((g, i) => expectClose(g, expected[i]!, 1e-4, `gradient of input ${i}`));
  });
  it.skipIf(gpu !== backend)(
    "the tiled kernel, chosen for a long sequence, allocates only its output (O(seq)); the GEMM path allocates O(seq^2)",
    async () => {
      const c: Case = { name: "long", B: 1, H: 2, Hkv: 1, T: 512, S: 512, D: 32, mask: true };
      expect(c.T * c.S).toBeGreaterThanOrEqual(TILED_MIN_SCORES);
      const h = hostInputs(c);
      const scale = 1 / Math.sqrt(c.D);
      const cpu = onBackend(c, h, cpuBackend);
      const expected = (await composed(cpu.q, cpu.k, cpu.v, cpu.mask, cpu.bias, scale).data()) as Float32Array;
      const g = onBackend(c, h, gpu);
      const allocated = async (kernel: AttentionKernel) => {
        gpu.attentionKernel = kernel;
        try {
          const before = gpu.stats().allocatedBytes;
          const out = noGrad(() => scaledDotProductAttention(g.q, g.k, g.v, { mask: g.mask, scale }));
          const bytes = gpu.stats().allocatedBytes - before;
          expectClose((await out.data()) as Float32Array, expected, 2e-5, `${kernel} at ${c.T} x ${c.S}`);
          out.dispose();
          return bytes;
        } finally {
          gpu.attentionKernel = "auto";
        }
      };
      const outputBytes = c.B * c.H * c.T * c.D * 4;
      expect(await allocated("auto")).toBe(outputBytes);
      // the same check on the GEMM path fails: scores and probabilities, B x H x T x S floats each
      expect(await allocated("gemm")).toBeGreaterThanOrEqual(outputBytes + 2 * c.B * c.H * c.T * c.S * 4);
    },
  );
});
