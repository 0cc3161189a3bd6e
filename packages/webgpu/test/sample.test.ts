/**
 * The decoding draw on the GPU (FusedKernels.sampleTokens) against @llm/sampling's host
 * processors and sampler: the same rows and uniforms give the same ids, except where the two
 * float orders could disagree (a uniform or a top-p cut within 1e-4 of a cumulative boundary:
 * those cases are counted and must be few). The composed path of the op (CPU backend) is held to
 * the same reference.
 */
import { describe, expect, it } from "vitest";
import { cpuBackend, Rng, sampleTokens, tensor, type Backend } from "@llm/tensor";
import { chain, minP, repetitionPenalty, sampleFrom, softmaxRow, temperature, topK, topP, type LogitsProcessor } from "@llm/sampling";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

interface Case {
  name: string;
  greedy?: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
}

const CASES: Case[] = [
  { name: "greedy", greedy: true },
  { name: "greedy + penalty", greedy: true, repetitionPenalty: 1.3 },
  { name: "plain draw" },
  { name: "temperature 0.7", temperature: 0.7 },
  { name: "top-k 5 (ties kept)", topK: 5 },
  { name: "top-p 0.8", topP: 0.8 },
  { name: "min-p 0.05", minP: 0.05 },
  { name: "all + penalty", temperature: 0.9, topK: 40, topP: 0.9, minP: 0.02, repetitionPenalty: 1.2 },
  { name: "tiny temperature overflows", temperature: 2e-37 },
];

const VOCAB = 1000;

/** Rows with ties (a 0.25 grid), continuous values, removed tokens, and wide values. */
function rows(seed: number): Float32Array[] {
  const rng = new Rng(seed);
  const grid = Float32Array.from({ length: VOCAB }, () => Math.round(rng.normal() * 8) / 4);
  const smooth = Float32Array.from({ length: VOCAB }, () => rng.normal() * 3);
  const holes = Float32Array.from({ length: VOCAB }, (_, i) => (i % 3 === 0 ? -Infinity : rng.normal() * 2));
  const wide = Float32Array.from({ length: VOCAB }, () => rng.normal() * 30);
  return [grid, smooth, holes, wide];
}

function hostProcessors(c: Case): LogitsProcessor {
  const ps: LogitsProcessor[] = [];
  if (c.repetitionPenalty) ps.push(repetitionPenalty(c.repetitionPenalty));
  if (!c.greedy) {
    if (c.temperature) ps.push(temperature(c.temperature));
    if (c.topK) ps.push(topK(c.topK));
    if (c.topP) ps.push(topP(c.topP));
    if (c.minP !== undefined) ps.push(minP(c.minP));
  }
  return chain(...ps);
}

/** The host sampler's id for this row and uniform, or null where rounding could decide it. */
function hostId(c: Case, row: Float32Array, seen: number[], u: number): number | null {
  const processed = hostProcessors(c)(row, seen);
  if (c.greedy) {
    let best = 0;
    for (let i = 1; i < processed.length; i++) if (processed[i]! > processed[best]!) best = i;
    return processed[best] === -Infinity ? -1 : best;
  }
  const probs = softmaxRow(processed);
  let cumulative = 0;
  for (const p of probs) {
    cumulative += p;
    if (p > 0 && Math.abs(cumulative - u) < 1e-4) return null;
  }
  if (c.topP) {
    // the cut itself: a cumulative mass (in sorted order) within 1e-4 of p
    const before = softmaxRow(hostProcessors({ ...c, topP: undefined, minP: undefined })(row, seen));
    const sorted = Array.from(before).sort((a, b) => b - a);
    let acc = 0;
    for (const p of sorted) {
      acc += p;
      if (Math.abs(acc - c.topP) < 1e-4) return null;
    }
  }
  return sampleFrom(processed, { uniform: () => u } as Rng);
}

async function compare(be: Backend, c: Case): Promise<{ checked: number; skipped: number; mismatches: string[] }> {
  const mismatches: string[] = [];
  let checked = 0;
  let skipped = 0;
  for (const seed of [1, 2, 3]) {
    const data = rows(seed);
    const rng = new Rng(100 + seed);
    const seen = data.map(() => Array.from(new Set(Array.from({ length: 30 }, () => Math.floor(rng.uniform() * VOCAB)))));
    const width = Math.max(...seen.map((s) => s.length));
    const seenHost = Int32Array.from(seen.flatMap((s) => [...s, ...new Array<number>(width - s.length).fill(-1)]));
    const uniforms = Float32Array.from(data, () => rng.uniform());
    const logits = tensor(Float32Array.from(data.flatMap((r) => Array.from(r))), { shape: [data.length, VOCAB], backend: be });
    const seenT = tensor(seenHost, { shape: [data.length, width], dtype: "int32", backend: be });
    const uT = tensor(uniforms, { backend: be });
    const ids = sampleTokens(logits, { ...c, seen: seenT, uniforms: uT });
    const got = Array.from(await ids.data());
    for (const t of [logits, seenT, uT, ids]) t.dispose();
    data.forEach((row, b) => {
      const want = hostId(c, row, seen[b]!, uniforms[b]!);
      if (want === null) skipped++;
      else {
        checked++;
        if (got[b] !== want) mismatches.push(`seed ${seed} row ${b}: got ${got[b]}, host ${want}`);
      }
    });
  }
  return { checked, skipped, mismatches };
}

const backends: [string, Backend | null][] = [
  ["webgpu (fused kernel)", backend],
  ["cpu (composed ops)", cpuBackend],
];

describe.each(backends)("sampleTokens on %s", (_, be) => {
  it.skipIf(!be).each(CASES)("$name: the host sampler's ids", async (c) => {
    const { checked, skipped, mismatches } = await compare(be!, c);
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(10);
    expect(skipped).toBeLessThanOrEqual(2);
  });

  it.skipIf(!be)("says which rows hold NaN or +Infinity (-2) and which have nothing left (-1)", async () => {
    const row = (v: number) => Float32Array.from({ length: 300 }, (_, i) => (i === 7 ? v : -Infinity));
    const x = tensor(Float32Array.from([...row(Number.NaN), ...row(Infinity), ...row(-Infinity), ...row(2)]), {
      shape: [4, 300],
      backend: be!,
    });
    const u = tensor(new Float32Array([0.5, 0.5, 0.5, 0.5]), { backend: be! });
    for (const greedy of [true, false]) {
      const ids = sampleTokens(x, { greedy, uniforms: u });
      expect(Array.from(await ids.data()), `greedy ${greedy}`).toEqual([-2, -2, -1, 7]);
      ids.dispose();
    }
    x.dispose();
    u.dispose();
  });
});
