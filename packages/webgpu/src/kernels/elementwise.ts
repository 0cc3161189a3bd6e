import type { BinaryOp, DType, FusedActivation, StridedView, UnaryOp } from "@llm/tensor";
import { WebGPUKernelError } from "../errors.js";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "../half.js";
import { bytesFor, computeType, convertExpr } from "../storage.js";
import { mapKernel } from "./map.js";

export function copy(ctx: KernelContext, x: StridedView): WebGPUBuffer {
  return mapKernel(ctx, { name: "copy", inputs: [x], loads: ["raw"], outDtype: x.buffer.dtype, expr: ([v]) => v!, rawOut: true });
}

/** x's words into the elements of an existing buffer that `dst` views (Backend.writeInto). */
export function writeInto(ctx: KernelContext, dst: StridedView, x: StridedView): void {
  const [from, to] = [x.buffer.dtype, dst.buffer.dtype];
  const into = { buffer: ctx.buffer(dst), strides: dst.strides, offset: dst.offset };
  if (from !== to) {
    // float32 into half storage: rounded on the way in, as cast stores it
    mapKernel(ctx, { name: "writeInto", inputs: [x], outDtype: to, expr: ([v]) => convertExpr(from, to, v!), into });
    return;
  }
  mapKernel(ctx, { name: "writeInto", inputs: [x], loads: ["raw"], outDtype: from, expr: ([v]) => v!, rawOut: true, into });
}

export function cast(ctx: KernelContext, x: StridedView, dtype: DType): WebGPUBuffer {
  const from = x.buffer.dtype;
  if (from === dtype) return copy(ctx, x);
  return mapKernel(ctx, { name: "cast", inputs: [x], outDtype: dtype, expr: ([v]) => convertExpr(from, dtype, v!) });
}

/** `size` copies of `value`; the value travels as its storage bits, so NaN and -0 survive. */
export function fill(ctx: KernelContext, size: number, value: number, dtype: DType): WebGPUBuffer {
  const bits = new Int32Array(1);
  if (dtype === "float32") new Float32Array(bits.buffer)[0] = value;
  else if (dtype === "int32") bits[0] = Number.isFinite(value) ? Math.trunc(value) : 0;
  else if (dtype === "bool") bits[0] = value !== 0 ? 1 : 0;
  else bits[0] = dtype === "float16" ? float32ToFloat16Bits(value) : float32ToBfloat16Bits(value);
  const out = ctx.alloc(size, dtype);
  if (size === 0) return out;
  if (bits[0] === 0) {
    ctx.batcher.clear(out.gpu, bytesFor(dtype, size));
    return out;
  }
  const word = bits[0]!;
  const t = dtype === "float32" ? "f32" : dtype === "int32" ? "i32" : "u32";
  return mapKernel(ctx, {
    name: "fill",
    shape: [size],
    inputs: [],
    outDtype: dtype,
    extras: [word],
    expr: (_, [bits]) => `bitcast<${t}>(${bits})`,
    rawOut: true,
    into: { buffer: out, strides: [1], offset: 0 },
  });
}

const FLOAT_UNARY: Record<Exclude<UnaryOp, "not">, (x: string) => string> = {
  neg: (x) => `-${x}`,
  abs: (x) => `abs(${x})`,
  sign: (x) => `select(sign(${x}), ${x}, is_nan(${x}))`,
  exp: (x) => `exp(${x})`,
  log: (x) => `log_f32(${x})`,
  sqrt: (x) => `sqrt_f32(${x})`,
  rsqrt: (x) => `1.0 / sqrt_f32(${x})`,
  reciprocal: (x) => `1.0 / ${x}`,
  tanh: (x) => `tanh_f32(${x})`,
  erf: (x) => `erf_f32(${x})`,
  sin: (x) => `sin_f32(${x})`,
  cos: (x) => `cos_f32(${x})`,
  relu: (x) => `select(${x}, 0.0, ${x} < 0.0)`,
  sigmoid: (x) => `1.0 / (1.0 + exp(-${x}))`,
  silu: (x) => `${x} / (1.0 + exp(-${x}))`,
  gelu: (x) => `0.5 * ${x} * (1.0 + erf_f32(${x} * 0.70710678118654752))`,
  gelu_tanh: (x) => `0.5 * ${x} * (1.0 + tanh_f32(0.79788456080286536 * (${x} + 0.044715 * ${x} * ${x} * ${x})))`,
  floor: (x) => `floor(${x})`,
};

const INT_UNARY: Partial<Record<UnaryOp, (x: string) => string>> = {
  neg: (x) => `-${x}`,
  abs: (x) => `abs(${x})`,
  sign: (x) => `sign(${x})`,
  relu: (x) => `max(${x}, 0)`,
  floor: (x) => x,
  not: (x) => `i32(${x} == 0)`,
};

export function unary(ctx: KernelContext, op: UnaryOp, x: StridedView): WebGPUBuffer {
  const dtype = x.buffer.dtype;
  let expr: (xs: string[]) => string;
  if (computeType(dtype) === "i32") {
    const intOp = INT_UNARY[op];
    if (intOp) expr = ([v]) => intOp(v!);
    else if (op === "not") throw new WebGPUKernelError(`webgpu unary: 'not' expects bool or int32, found ${dtype}`);
    // Float functions of integers compute in f32 and truncate, as the CPU backend does.
    else expr = ([v]) => `f32_to_i32(${FLOAT_UNARY[op](`f32(${v})`)})`;
  } else {
    if (op === "not") throw new WebGPUKernelError(`webgpu unary: 'not' expects bool or int32, found ${dtype}`);
    expr = ([v]) => FLOAT_UNARY[op](v!);
  }
  return mapKernel(ctx, { name: `unary:${op}`, inputs: [x], outDtype: dtype, expr });
}

/** g * f'(x) for float32 x and g of one shape (the WGSL helpers in wgsl-lib.ts). */
export function activationGrad(ctx: KernelContext, op: FusedActivation, x: StridedView, g: StridedView): WebGPUBuffer {
  const fn = { gelu: "gelu_grad", gelu_tanh: "gelu_tanh_grad", silu: "silu_grad" }[op];
  if (!fn) throw new WebGPUKernelError(`webgpu activationGrad: unknown activation '${op as string}'`);
  return mapKernel(ctx, { name: `activationGrad:${op}`, inputs: [x, g], outDtype: "float32", expr: ([v, d]) => `${fn}(${v}, ${d})` });
}

const COMPARE: Partial<Record<BinaryOp, string>> = { eq: "==", ne: "!=", lt: "<", le: "<=", gt: ">", ge: ">=" };

function binaryExpr(op: BinaryOp, isFloat: boolean, a: string, b: string): string {
  const cmp = COMPARE[op];
  if (cmp) return `i32(${a} ${cmp} ${b})`;
  switch (op) {
    case "add":
      return `${a} + ${b}`;
    case "sub":
      return `${a} - ${b}`;
    case "mul":
      return `${a} * ${b}`;
    case "div":
      return isFloat ? `${a} / ${b}` : `div_i32(${a}, ${b})`;
    case "pow":
      return isFloat ? `pow_f32(${a}, ${b})` : `pow_i32(${a}, ${b})`;
    case "maximum":
      return isFloat ? `max_nan(${a}, ${b})` : `max(${a}, ${b})`;
    case "minimum":
      return isFloat ? `min_nan(${a}, ${b})` : `min(${a}, ${b})`;
    case "and":
      return `i32(${a} != ${isFloat ? "0.0" : "0"} && ${b} != ${isFloat ? "0.0" : "0"})`;
    case "or":
      return `i32(${a} != ${isFloat ? "0.0" : "0"} || ${b} != ${isFloat ? "0.0" : "0"})`;
    default:
      throw new WebGPUKernelError(`webgpu binary: unknown op '${op as string}'`);
  }
}

export function binary(ctx: KernelContext, op: BinaryOp, a: StridedView, b: StridedView): WebGPUBuffer {
  const dtype = a.buffer.dtype;
  const isFloat = computeType(dtype) === "f32";
  const outDtype: DType = op in COMPARE || op === "and" || op === "or" ? "bool" : dtype;
  return mapKernel(ctx, { name: `binary:${op}`, inputs: [a, b], outDtype, expr: ([x, y]) => binaryExpr(op, isFloat, x!, y!) });
}

/** Raw words move, so half types keep their bits. */
export function where(ctx: KernelContext, cond: StridedView, a: StridedView, b: StridedView): WebGPUBuffer {
  return mapKernel(ctx, {
    name: "where",
    inputs: [cond, a, b],
    loads: ["value", "raw", "raw"],
    outDtype: a.buffer.dtype,
    expr: ([c, x, y]) => `select(${y}, ${x}, ${c} != 0)`,
    rawOut: true,
  });
}

/** Copies each view into its slot of one output along `axis`. */
export function concat(ctx: KernelContext, xs: readonly StridedView[], axis: number): WebGPUBuffer {
  const first = xs[0]!;
  const shape = first.shape.slice();
  shape[axis] = xs.reduce((s, x) => s + x.shape[axis]!, 0);
  const size = shape.reduce((a, b) => a * b, 1);
  const out = ctx.alloc(size, first.buffer.dtype);
  const strides: number[] = [];
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    strides[d] = acc;
    acc *= shape[d]!;
  }
  let start = 0;
  for (const x of xs) {
    mapKernel(ctx, {
      name: "copy",
      inputs: [x],
      loads: ["raw"],
      outDtype: x.buffer.dtype,
      expr: ([v]) => v!,
      rawOut: true,
      into: { buffer: out, strides, offset: start * strides[axis]! },
    });
    start += x.shape[axis]!;
  }
  return out;
}
