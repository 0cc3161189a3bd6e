import type { DType, ReduceOp, StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, contiguousStrides, grid, sizeOf } from "../layout.js";
import { bindingType, computeType, loadExpr, storageType, storeExpr, storeStatement } from "../storage.js";
import { entry, Meta, offsets, shader } from "./codegen.js";

const WG = 256;

function identity(op: ReduceOp, t: "f32" | "i32"): string {
  switch (op) {
    case "sum":
      return t === "f32" ? "0.0" : "0";
    case "prod":
      return t === "f32" ? "1.0" : "1";
    case "max":
      return t === "f32" ? "neg_inf()" : "i32(-2147483648)";
    case "min":
      return t === "f32" ? "pos_inf()" : "2147483647";
  }
}

function combine(op: ReduceOp, t: "f32" | "i32", a: string, b: string): string {
  switch (op) {
    case "sum":
      return `${a} + ${b}`;
    case "prod":
      return `${a} * ${b}`;
    case "max":
      return t === "f32" ? `max_nan(${a}, ${b})` : `max(${a}, ${b})`;
    case "min":
      return t === "f32" ? `min_nan(${a}, ${b})` : `min(${a}, ${b})`;
  }
}

/** Splits a view into kept dims (the output, row-major) and reduced dims, each coalesced. */
export function splitAxes(x: StridedView, axes: readonly number[]) {
  const reduced = new Set(axes);
  const groups = x.shape.map((_, d) => (reduced.has(d) ? 1 : 0));
  const c = coalesce(x.shape, [x.strides], groups);
  const kept = { shape: [] as number[], strides: [] as number[] };
  const red = { shape: [] as number[], strides: [] as number[] };
  c.shape.forEach((n, i) => {
    const part = c.groups[i] === 1 ? red : kept;
    part.shape.push(n);
    part.strides.push(c.strides[0]![i]!);
  });
  return { kept, red, outputs: sizeOf(kept.shape), length: sizeOf(red.shape) };
}

/**
 * One workgroup per output when the reduced extent is long (a tree in workgroup memory), one
 * thread per output when it is short and outputs are many (a serial loop, no idle threads).
 */
export function useWorkgroupPerOutput(outputs: number, length: number): boolean {
  return length > 64 && (outputs < 8192 || length > 1024);
}

export function reduce(ctx: KernelContext, op: ReduceOp, x: StridedView, axes: readonly number[]): WebGPUBuffer {
  const dtype = x.buffer.dtype;
  const { kept, red, outputs, length } = splitAxes(x, axes);
  const out = ctx.alloc(outputs, dtype);
  if (outputs === 0) return out;
  const t = computeType(dtype);
  const meta = new Meta();
  const NOUT = meta.push(outputs);
  const LEN = meta.push(length);
  const perGroup = useWorkgroupPerOutput(outputs, length);
  const o = perGroup ? "wg" : "gi";
  const base = offsets(meta, o, kept.shape, [{ name: "x", strides: kept.strides, offset: x.offset }], "K");
  const inner = offsets(meta, "k", red.shape, [{ name: "xr", strides: red.strides, offset: 0 }], "R");
  const load = loadExpr(dtype, "X[o_x + o_xr]");
  const loop = (start: string, step: string) => `  var acc: ${t} = ${identity(op, t)};
  for (var k = ${start}; k < ${LEN}; k += ${step}) {
${inner}
    acc = ${combine(op, t, "acc", load)};
  }`;
  const result = (v: string) => storeExpr(dtype, dtype === "bool" ? `i32(${v} != 0)` : v);
  const body = perGroup
    ? `  if (i32(wg) >= ${NOUT}) { return; }
${base}
${loop("i32(lid)", `${WG}`)}
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = ${combine(op, t, "sh[lid]", "sh[lid + s]")}; }
    workgroupBarrier();
  }
  if (lid == 0u) { ${storeStatement(dtype, "O", "wg", result("sh[0]"))} }`
    : `  if (i32(gi) >= ${NOUT}) { return; }
${base}
${loop("0", "1")}
  ${storeStatement(dtype, "O", "gi", result("acc"))}`;
  const bindings = [
    { name: "X", type: storageType(dtype) },
    { name: "O", type: bindingType(dtype, true), write: true },
  ];
  const decl = perGroup ? `var<workgroup> sh: array<${t}, ${WG}>;\n` : "";
  ctx.batcher.dispatch({
    key: `reduce:${op}:${dtype}:${perGroup ? "wg" : "t"}:k${kept.shape.length}:r${red.shape.length}`,
    code: () => shader(meta, bindings, decl + entry(WG, body)),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu],
    output: out.gpu,
    workgroups: grid(perGroup ? outputs : Math.ceil(outputs / WG)),
  });
  return out;
}

/** First index of the max along `axis`; a NaN counts as the max (numpy's rule). */
export function argmax(ctx: KernelContext, x: StridedView, axis: number): WebGPUBuffer {
  const dtype = x.buffer.dtype;
  const outShape = x.shape.slice();
  outShape[axis] = 1;
  const outputs = sizeOf(outShape);
  const out = ctx.alloc(outputs, "int32");
  if (outputs === 0) return out;
  const t = computeType(dtype);
  const meta = new Meta();
  const NOUT = meta.push(outputs);
  const LEN = meta.push(x.shape[axis]!);
  const STEP = meta.push(x.strides[axis]!);
  const kept = coalesce(outShape, [x.strides]);
  const perGroup = useWorkgroupPerOutput(outputs, x.shape[axis]!);
  const o = perGroup ? "wg" : "gi";
  const base = offsets(meta, o, kept.shape, [{ name: "x", strides: kept.strides[0]!, offset: x.offset }], "K");
  const nan = (v: string) => (t === "f32" ? `is_nan(${v})` : "false");
  // Better(a at ia, b at ib): does b beat a? NaN beats numbers; ties go to the lower index.
  const better = `fn better(va: ${t}, ia: i32, vb: ${t}, ib: i32) -> bool {
  if (${nan("va")}) { return ${nan("vb")} && ib < ia; }
  if (${nan("vb")}) { return true; }
  return vb > va || (vb == va && ib < ia);
}`;
  const scan = (start: string, step: string) => `  var best: ${t} = ${loadExpr(dtype, `X[o_x + ${start} * ${STEP}]`)};
  var bi: i32 = ${start};
  for (var k = ${start}; k < ${LEN}; k += ${step}) {
    let v = ${loadExpr(dtype, `X[o_x + k * ${STEP}]`)};
    if (better(best, bi, v, k)) { best = v; bi = k; }
  }`;
  const body = perGroup
    ? `  if (i32(wg) >= ${NOUT}) { return; }
${base}
  let start = min(i32(lid), ${LEN} - 1);
${scan("start", `${WG}`)}
  shv[lid] = best;
  shi[lid] = bi;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s && better(shv[lid], shi[lid], shv[lid + s], shi[lid + s])) {
      shv[lid] = shv[lid + s];
      shi[lid] = shi[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { O[wg] = shi[0]; }`
    : `  if (i32(gi) >= ${NOUT}) { return; }
${base}
${scan("0", "1")}
  O[gi] = bi;`;
  const decl = perGroup ? `var<workgroup> shv: array<${t}, ${WG}>;\nvar<workgroup> shi: array<i32, ${WG}>;\n` : "";
  const bindings = [
    { name: "X", type: storageType(dtype) },
    { name: "O", type: "i32", write: true },
  ];
  ctx.batcher.dispatch({
    key: `argmax:${dtype}:${perGroup ? "wg" : "t"}:k${kept.shape.length}`,
    code: () => shader(meta, bindings, `${decl + better}\n${entry(WG, body)}`),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu],
    output: out.gpu,
    workgroups: grid(perGroup ? outputs : Math.ceil(outputs / WG)),
  });
  return out;
}

/** Inclusive prefix sum along `axis`: one thread per line, in the compute type. */
export function cumsum(ctx: KernelContext, x: StridedView, axis: number): WebGPUBuffer {
  const dtype: DType = x.buffer.dtype;
  const size = sizeOf(x.shape);
  const out = ctx.alloc(size, dtype);
  const len = x.shape[axis]!;
  if (size === 0) return out;
  const lines = size / len;
  const t = computeType(dtype);
  const lineShape = x.shape.slice();
  lineShape[axis] = 1;
  const outStrides = contiguousStrides(x.shape);
  const c = coalesce(lineShape, [outStrides, x.strides]);
  const meta = new Meta();
  const N = meta.push(lines);
  const LEN = meta.push(len);
  const SX = meta.push(x.strides[axis]!);
  const SO = meta.push(outStrides[axis]!);
  const base = offsets(meta, "gi", c.shape, [
    { name: "o", strides: c.strides[0]!, offset: 0 },
    { name: "x", strides: c.strides[1]!, offset: x.offset },
  ]);
  const body = `  if (i32(gi) >= ${N}) { return; }
${base}
  var acc: ${t} = ${t === "f32" ? "0.0" : "0"};
  for (var k = 0; k < ${LEN}; k++) {
    acc = acc + ${loadExpr(dtype, `X[o_x + k * ${SX}]`)};
    ${storeStatement(dtype, "O", `o_o + k * ${SO}`, storeExpr(dtype, "acc"))}
  }`;
  const bindings = [
    { name: "X", type: storageType(dtype) },
    { name: "O", type: bindingType(dtype, true), write: true },
  ];
  ctx.batcher.dispatch({
    key: `cumsum:${dtype}:r${c.shape.length}`,
    code: () => shader(meta, bindings, entry(WG, body)),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu],
    output: out.gpu,
    workgroups: grid(Math.ceil(lines / WG)),
  });
  return out;
}
