import type { AdamWBuffers, AdamWStep, StridedView } from "@llm/tensor";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, contiguousStrides, grid, sizeOf } from "../layout.js";
import { loadExpr, storageType } from "../storage.js";
import { entry, Meta, offsets, shader, type Binding } from "./codegen.js";

const WG = 256;
const f = Math.fround;

function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0]!;
}

/**
 * One AdamW step of one parameter in one pass (FusedKernels.adamwStep): a thread per element reads
 * p, g and the moments and writes the new three, where the composed path runs about fourteen
 * full-size kernels. The same ops in the same order as the CPU kernel and torch's single-tensor
 * path, each rounded to float32 (WGSL's + - * are exact-rounded; its division and sqrt may be off
 * by an ulp or two on some GPUs, so bit equality with the CPU is not promised, only ulps):
 *   p *= 1 - lr wd;  m = m + (g - m)(1 - b1);  v = v b2 + g g (1 - b2)
 *   p -= (m / (sqrt(v) / sqrt(1 - b2^t) + eps)) * lr / (1 - b1^t)
 */
export function adamwStep(
  ctx: KernelContext,
  param: StridedView,
  grad: StridedView,
  expAvg: StridedView | null,
  expAvgSq: StridedView | null,
  h: AdamWStep,
): AdamWBuffers {
  const n = sizeOf(param.shape);
  const out = { param: ctx.alloc(n, "float32"), expAvg: ctx.alloc(n, "float32"), expAvgSq: ctx.alloc(n, "float32") };
  if (n === 0) return out;
  const later = expAvg !== null && expAvgSq !== null;
  const views = later ? [param, grad, expAvg, expAvgSq] : [param, grad];
  const c = coalesce(param.shape, [contiguousStrides(param.shape), ...views.map((v) => v.strides)]);
  const meta = new Meta();
  const N = meta.push(n);
  const k = (v: number) => `bitcast<f32>(${meta.push(f32Bits(v))})`;
  // The scalars rounded to float32 on the host, as the CPU kernel does.
  const decay = k(f(1 - h.lr * h.weightDecay));
  const oneMinusB1 = k(f(1 - h.beta1));
  const b2 = k(f(h.beta2));
  const oneMinusB2 = k(f(1 - h.beta2));
  const stepSize = k(f(h.lr / (1 - h.beta1 ** h.step)));
  const bias2Sqrt = k(f(Math.sqrt(1 - h.beta2 ** h.step)));
  const eps = k(f(h.eps));
  const names = ["p", "g", "m", "v"];
  const index = offsets(meta, "gi", c.shape, [
    { name: "out", strides: c.strides[0]!, offset: 0 },
    ...views.map((v, i) => ({ name: names[i]!, strides: c.strides[i + 1]!, offset: v.offset })),
  ]);
  const load = (i: number) => loadExpr(views[i]!.buffer.dtype, `${names[i]!.toUpperCase()}[o_${names[i]}]`);
  const moments = later
    ? `  let m0 = ${load(2)};
  let m = m0 + (gi_ - m0) * ${oneMinusB1};
  let v = ${load(3)} * ${b2} + (gi_ * gi_) * ${oneMinusB2};`
    : `  let m = gi_ * ${oneMinusB1};
  let v = (gi_ * gi_) * ${oneMinusB2};`;
  const body = `  if (i32(gi) >= ${N}) { return; }
${index}
  let gi_ = ${load(1)};
  let p = ${load(0)} * ${decay};
${moments}
  MO[o_out] = m;
  VO[o_out] = v;
  O[o_out] = p - (m / (sqrt(v) / ${bias2Sqrt} + ${eps})) * ${stepSize};`;
  const bindings: Binding[] = [
    ...views.map((v, i) => ({ name: names[i]!.toUpperCase(), type: storageType(v.buffer.dtype) })),
    { name: "MO", type: "f32", write: true },
    { name: "VO", type: "f32", write: true },
    { name: "O", type: "f32", write: true },
  ];
  ctx.batcher.dispatch({
    key: `adamw${later ? "" : "-first"}:${views.map((v) => v.buffer.dtype).join(",")}:r${c.shape.length}`,
    code: () => shader(meta, bindings, entry(WG, body)),
    uniforms: meta.data(),
    inputs: [...views.map((v) => ctx.buffer(v).gpu), out.expAvg.gpu, out.expAvgSq.gpu],
    output: out.param.gpu,
    workgroups: grid(Math.ceil(n / WG)),
  });
  return out;
}
