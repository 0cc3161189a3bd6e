import type { DType, StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, contiguousStrides, grid, sizeOf } from "../layout.js";
import { bindingType, loadExpr, rawExpr, storageType, storeExpr, storeStatement } from "../storage.js";
import { entry, Meta, offsets, shader } from "./codegen.js";

const WG = 256;

export interface MapSpec {
  /** Kernel identity: op name plus anything else the expression depends on. */
  name: string;
  /** The output shape; defaults to the first input's (all inputs share it). */
  shape?: readonly number[];
  inputs: readonly StridedView[];
  /** "value": decoded to its compute type; "raw": the element as stored (a word, a half's 16 bits: copies of any dtype). */
  loads?: readonly ("value" | "raw")[];
  outDtype: DType;
  /** WGSL for the output from the loaded inputs `x0, x1, ...`; stored raw when `rawOut`. */
  expr: (xs: string[], extras: string[]) => string;
  /** Uniform words the expression reads (passed to `expr` as WGSL i32 expressions). */
  extras?: readonly number[];
  rawOut?: boolean;
  /** Write into part of an existing buffer (concat) instead of a new contiguous one. */
  into?: { buffer: WebGPUBuffer; strides: readonly number[]; offset: number };
}

/** One thread per output element; every operand (inputs and output) is a strided view. */
export function mapKernel(ctx: KernelContext, spec: MapSpec): WebGPUBuffer {
  const shape = spec.shape ?? spec.inputs[0]!.shape;
  const n = sizeOf(shape);
  const out = spec.into?.buffer ?? ctx.alloc(n, spec.outDtype);
  if (n === 0) return out;
  const outStrides = spec.into?.strides ?? contiguousStrides(shape);
  const c = coalesce(shape, [outStrides, ...spec.inputs.map((v) => v.strides)]);
  const loads = spec.loads ?? spec.inputs.map(() => "value" as const);
  const meta = new Meta();
  const N = meta.push(n);
  const extras = (spec.extras ?? []).map((v) => meta.push(v));
  const operands = [
    { name: "out", strides: c.strides[0]!, offset: spec.into?.offset ?? 0 },
    ...spec.inputs.map((v, i) => ({ name: `x${i}`, strides: c.strides[i + 1]!, offset: v.offset })),
  ];
  const index = offsets(meta, "gi", c.shape, operands);
  const inDtypes = spec.inputs.map((v) => v.buffer.dtype);
  const values = inDtypes.map(
    (d, i) => `  let x${i} = ${loads[i] === "raw" ? rawExpr(d, `X${i}[o_x${i}]`) : loadExpr(d, `X${i}[o_x${i}]`)};`,
  );
  const result = spec.expr(
    inDtypes.map((_, i) => `x${i}`),
    extras,
  );
  const body = [
    `  if (i32(gi) >= ${N}) { return; }`,
    index,
    ...values,
    `  ${storeStatement(spec.outDtype, "O", "o_out", spec.rawOut ? result : storeExpr(spec.outDtype, result))}`,
  ].join("\n");
  const bindings = [
    ...inDtypes.map((d, i) => ({ name: `X${i}`, type: storageType(d) })),
    { name: "O", type: bindingType(spec.outDtype, true), write: true },
  ];
  const key = `map:${spec.name}:${inDtypes.join(",")}:${loads.join(",")}->${spec.outDtype}${spec.rawOut ? ":raw" : ""}:r${c.shape.length}`;
  ctx.batcher.dispatch({
    key,
    code: () => shader(meta, bindings, entry(WG, body)),
    uniforms: meta.data(),
    inputs: spec.inputs.map((v) => ctx.buffer(v).gpu),
    output: out.gpu,
    workgroups: grid(Math.ceil(n / WG)),
  });
  return out;
}
