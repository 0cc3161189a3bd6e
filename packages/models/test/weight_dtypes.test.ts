import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad } from "@llm/tensor";
import { quantize, weightRoles, type Model } from "@llm/models";
import { loadModel, saveModel } from "@llm/models/node";
import { batchOptions, fixtureNames, greedy, maxAbsDiff, readFixture, type Fixture } from "./fixture_files.js";

/**
 * Half-precision weights kept half: each fixture's float32 weights converted to float16 and to
 * bfloat16 (here, in the test: the fixture files stay as they are), multiplied as stored with
 * float32 accumulation, against the float32 reference.
 */
const scratch = mkdtempSync(join(tmpdir(), "llm-half-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/**
 * Every half matrix is stored along the axis its matmul reduces over (an [in, out] Conv1D weight as
 * [out, in] rows under a transposed view), where the CPU's half kernels read it; counted, so a
 * fixture without such weights says so.
 */
function halfMatricesAlongTheirAxis(model: Model): { along: number; transposed: number } {
  let along = 0;
  let transposed = 0;
  for (const [p, role] of weightRoles(model)) {
    if ((p.dtype !== "float16" && p.dtype !== "bfloat16") || p.rank !== 2 || role.axis < 0) continue;
    expect(p.strides[role.axis], `a ${p.dtype} [${p.shape}] weight read along axis ${role.axis}`).toBe(1);
    along++;
    if (role.axis === 0) transposed++;
  }
  return { along, transposed };
}

function dtypesOf(model: Model): Record<string, number> {
  const count: Record<string, number> = {};
  for (const p of model.parameters()) count[p.dtype] = (count[p.dtype] ?? 0) + 1;
  return count;
}

describe.each(fixtureNames())("%s fixture in half precision", (name) => {
  let f: Fixture;
  beforeAll(async () => {
    f = await readFixture(name);
  });

  // Rounding the weights alone moves these fixtures' logits by up to 7.8e-3 (float16) and 7.3e-2
  // (bfloat16; |logits| reach ~6), measured on every fixture but gemma2, whose embedding scale
  // (sqrt(width)) and sandwich norms double that (1.5e-2, 0.10): no forward of rounded weights meets
  // 2e-3 against the float32 reference. What the half path itself adds is checked exactly: against
  // float32 weights that hold the very same (rounded) values, it must agree to float32 accumulation
  // (1e-4, the fixtures' own tolerance); against the reference, within what rounding costs, and the
  // same tokens.
  const ROUNDING_BOUND = { float16: 1e-2, bfloat16: 8e-2 } as const;
  const SENSITIVITY: Record<string, number> = { gemma2: 2 };
  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`${dtype}: equal to float32 on the rounded weights, near the reference, the same greedy tokens`, async () => {
      const model = await quantize(await loadModel(f.dir), dtype);
      // matrices and embeddings are half; norms and biases float32
      const kinds = dtypesOf(model);
      expect(kinds[dtype]).toBeGreaterThan(0);
      const layout = halfMatricesAlongTheirAxis(model);
      expect(layout.along).toBeGreaterThan(0);
      if (name === "gpt2") expect(layout.transposed).toBeGreaterThan(0); // its Conv1D weights
      for (const p of model.parameters()) if (p.rank === 1) expect(p.dtype).toBe("float32");
      const rounded = await quantize(await loadModel(f.dir), dtype);
      await quantize(rounded, "float32"); // the same rounded values, widened
      const [logits, exact] = noGrad(() => [model, rounded].map((m) => m.forward(f.reference.input_ids!, batchOptions(f))));
      const kernelError = maxAbsDiff(logits!, exact!);
      const error = maxAbsDiff(logits!, f.reference.logits!);
      const { ids } = greedy(model, f, true);
      console.log(
        `${name} ${dtype}: vs float32 of the same weights ${kernelError.toExponential(2)}, vs reference ${error.toExponential(2)}, ${JSON.stringify(kinds)}`,
      );
      expect(kernelError).toBeLessThanOrEqual(1e-4);
      expect(error).toBeLessThanOrEqual(ROUNDING_BOUND[dtype] * (SENSITIVITY[name] ?? 1));
      // the half model decodes exactly as float32 on the same rounded weights; and as the reference,
      // except where rounding the weights itself flips a choice (gemma2 in bfloat16: its soft-capped
      // logits span only +-3, and 8 bits of mantissa move them by 0.10)
      expect(ids).toEqual(greedy(rounded, f, true).ids);
      if (!(name === "gemma2" && dtype === "bfloat16")) expect(ids).toEqual(Array.from(f.reference.gen_ids!.dataSync()));
      model.dispose();
      rounded.dispose();
    });
  }

  it("a float16 checkpoint loads half by default (dtype auto) and as float32 when asked", async () => {
    const dir = join(scratch, name);
    const half = await quantize(await loadModel(f.dir), "float16");
    await saveModel(half, dir);
    const reloaded = await loadModel(dir);
    const widened = await loadModel(dir, { dtype: "float32" });
    // the file holds Conv1D weights [in, out] as every checkpoint does; loaded, they are rows again
    expect(halfMatricesAlongTheirAxis(reloaded)).toEqual(halfMatricesAlongTheirAxis(half));
    for (const [key, p] of Object.entries(half.stateDict())) {
      expect(reloaded.stateDict()[key]!.dtype, key).toBe(p.dtype);
      expect(widened.stateDict()[key]!.dtype, key).toBe("float32");
    }
    const a = noGrad(() => reloaded.forward(f.reference.input_ids!, batchOptions(f)));
    const b = noGrad(() => half.forward(f.reference.input_ids!, batchOptions(f)));
    expect(maxAbsDiff(a, b)).toBe(0);
    for (const m of [half, reloaded, widened]) m.dispose();
  });
});
