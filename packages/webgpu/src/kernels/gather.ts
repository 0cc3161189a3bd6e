import { isHalfDType, type StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, contiguousStrides, grid, sizeOf } from "../layout.js";
import { bindingType, bytesFor, computeType, loadExpr, rawExpr, storageType, storeStatement } from "../storage.js";
import { cast } from "./elementwise.js";
import { entry, Meta, offsets, shader } from "./codegen.js";

const WG = 256;

/**
 * Per output dim of take(x, indices, axis): how it steps through `data` (x for gather, the output
 * for scatterAdd) and through `indices`. Index dims step through indices only; the looked-up
 * index then adds k * data stride along `axis`.
 */
function takeStrides(dataStrides: readonly number[], idx: StridedView, axis: number) {
  const ir = idx.shape.length;
  const data = [...dataStrides.slice(0, axis), ...new Array<number>(ir).fill(0), ...dataStrides.slice(axis + 1)];
  const index = [...new Array<number>(axis).fill(0), ...idx.strides, ...new Array<number>(dataStrides.length - axis - 1).fill(0)];
  return { data, index };
}

export function gather(ctx: KernelContext, x: StridedView, indices: StridedView, axis: number): WebGPUBuffer {
  const dtype = x.buffer.dtype;
  const shape = [...x.shape.slice(0, axis), ...indices.shape, ...x.shape.slice(axis + 1)];
  const n = sizeOf(shape);
  const out = ctx.alloc(n, dtype);
  if (n === 0) return out;
  const s = takeStrides(x.strides, indices, axis);
  const c = coalesce(shape, [contiguousStrides(shape), s.data, s.index]);
  const meta = new Meta();
  const N = meta.push(n);
  const LEN = meta.push(x.shape[axis]!);
  const SA = meta.push(x.strides[axis]!);
  const idx = offsets(meta, "gi", c.shape, [
    { name: "o", strides: c.strides[0]!, offset: 0 },
    { name: "x", strides: c.strides[1]!, offset: x.offset },
    { name: "i", strides: c.strides[2]!, offset: indices.offset },
  ]);
  const body = `  if (i32(gi) >= ${N}) { return; }
${idx}
  var k = ${loadExpr(indices.buffer.dtype, "I[o_i]")};
  if (k < 0) { k += ${LEN}; }
  ${storeStatement(dtype, "O", "o_o", rawExpr(dtype, `X[o_x + k * ${SA}]`))}`;
  const bindings = [
    { name: "X", type: storageType(dtype) },
    { name: "I", type: storageType(indices.buffer.dtype) },
    { name: "O", type: bindingType(dtype, true), write: true },
  ];
  ctx.batcher.dispatch({
    key: `gather:${dtype}:${indices.buffer.dtype}:r${c.shape.length}`,
    code: () => shader(meta, bindings, entry(WG, body)),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu, ctx.buffer(indices).gpu],
    output: out.gpu,
    workgroups: grid(Math.ceil(n / WG)),
  });
  return out;
}

/**
 * Zeros of `shape` plus `updates` added at `indices` along `axis`. One thread per update, with
 * atomics because indices repeat: i32 adds directly, f32 by compare-exchange on the bits (so
 * float sums of repeated indices may associate in any order). Halves go through float32.
 */
export function scatterAdd(
  ctx: KernelContext,
  updates: StridedView,
  indices: StridedView,
  axis: number,
  shape: readonly number[],
): WebGPUBuffer {
  const dtype = updates.buffer.dtype;
  if (isHalfDType(dtype)) {
    const f = cast(ctx, updates, "float32");
    const view = { buffer: f, shape: updates.shape, strides: contiguousStrides(updates.shape), offset: 0 };
    const sum = scatterAdd(ctx, view, indices, axis, shape);
    const r = cast(ctx, { buffer: sum, shape, strides: contiguousStrides(shape), offset: 0 }, dtype);
    ctx.free(f);
    ctx.free(sum);
    return r;
  }
  const size = sizeOf(shape);
  const out = ctx.alloc(size, dtype);
  if (size === 0) return out;
  ctx.batcher.clear(out.gpu, bytesFor(dtype, size));
  const n = sizeOf(updates.shape);
  if (n === 0) return out;
  const s = takeStrides(contiguousStrides(shape), indices, axis);
  const c = coalesce(updates.shape, [updates.strides, s.data, s.index]);
  const meta = new Meta();
  const N = meta.push(n);
  const LEN = meta.push(shape[axis]!);
  const SA = meta.push(contiguousStrides(shape)[axis]!);
  const idx = offsets(meta, "gi", c.shape, [
    { name: "u", strides: c.strides[0]!, offset: updates.offset },
    { name: "o", strides: c.strides[1]!, offset: 0 },
    { name: "i", strides: c.strides[2]!, offset: indices.offset },
  ]);
  const isFloat = computeType(dtype) === "f32";
  const add = isFloat
    ? `  var old = atomicLoad(&O[p]);
  loop {
    let r = atomicCompareExchangeWeak(&O[p], old, bitcast<u32>(bitcast<f32>(old) + v));
    if (r.exchanged) { break; }
    old = r.old_value;
  }`
    : `  atomicAdd(&O[p], ${storageType(dtype) === "u32" ? "u32(v)" : "v"});`;
  const body = `  if (i32(gi) >= ${N}) { return; }
${idx}
  var k = ${loadExpr(indices.buffer.dtype, "I[o_i]")};
  if (k < 0) { k += ${LEN}; }
  let p = o_o + k * ${SA};
  let v = ${loadExpr(dtype, "X[o_u]")};
${add}`;
  const atomicType = isFloat ? "u32" : storageType(dtype);
  const bindings = [
    { name: "X", type: storageType(dtype) },
    { name: "I", type: storageType(indices.buffer.dtype) },
    { name: "O", type: `atomic<${atomicType}>`, write: true },
  ];
  ctx.batcher.dispatch({
    key: `scatterAdd:${dtype}:${indices.buffer.dtype}:r${c.shape.length}`,
    code: () => shader(meta, bindings, entry(WG, body)),
    uniforms: meta.data(),
    inputs: [ctx.buffer(updates).gpu, ctx.buffer(indices).gpu],
    output: out.gpu,
    workgroups: grid(Math.ceil(n / WG)),
  });
  return out;
}
