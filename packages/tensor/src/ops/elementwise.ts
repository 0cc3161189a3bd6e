import type { BinaryOp, FusedActivation, StridedView, UnaryOp } from "../backend.js";
import { isQuantized, type DType } from "../dtype.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import { broadcastShapes, shapesEqual } from "../shape.js";
import type { Operand, Tensor } from "../tensor.js";
import { broadcastView, fromBuffer, record, requireDType, sameBackend, scalar } from "./core.js";
import { tidy } from "../engine.js";
import { sumToShape } from "./reduce.js";

const SIGNED_OPS: ReadonlySet<UnaryOp> = new Set(["neg", "abs", "sign"]);
const COMPARISONS: ReadonlySet<BinaryOp> = new Set(["eq", "ne", "lt", "le", "gt", "ge"]);
const LOGICAL: ReadonlySet<BinaryOp> = new Set(["and", "or"]);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export function unary(op: UnaryOp, x: Tensor): Tensor {
  if (op === "not") requireDType(x, ["bool"], op);
  else if (SIGNED_OPS.has(op)) requireDType(x, ["float32", "int32"], op);
  else requireDType(x, ["float32"], op);
  const out = fromBuffer(x.backend, x.backend.unary(op, x.view()), x.shape, x.dtype);
  return record(out, op, [x], (g) => [fusedActivationGrad(op, x, g) ?? unaryGrad(op, x, out, g)]);
}

const FUSABLE: ReadonlySet<UnaryOp> = new Set<FusedActivation>(["gelu", "gelu_tanh", "silu"]);

/** The backend's one-pass backward of an activation, when it has one. */
function fusedActivationGrad(op: UnaryOp, x: Tensor, g: Tensor): Tensor | null {
  const kernel = x.backend.fused?.activationGrad;
  if (!kernel || !FUSABLE.has(op)) return null;
  return fromBuffer(x.backend, kernel(op as FusedActivation, x.view(), g.view()), x.shape, "float32");
}

/** d op(x) / dx times g, composed from forward ops. */
function unaryGrad(op: UnaryOp, x: Tensor, y: Tensor, g: Tensor): Tensor | null {
  switch (op) {
    case "neg":
      return g.neg();
    case "abs":
      return g.mul(x.sign());
    case "exp":
      return g.mul(y);
    case "log":
      return g.div(x);
    case "sqrt":
      return g.div(y.mul(2));
    case "rsqrt":
      return g.mul(y.mul(y).mul(y)).mul(-0.5);
    case "reciprocal":
      return g.mul(y.mul(y)).neg();
    case "tanh":
      return g.mul(y.mul(y).neg().add(1));
    case "erf":
      return g.mul(
        x
          .mul(x)
          .neg()
          .exp()
          .mul(2 / Math.sqrt(Math.PI)),
      );
    case "sin":
      return g.mul(x.cos());
    case "cos":
      return g.mul(x.sin()).neg();
    case "relu":
      return g.mul(x.gt(0).float());
    case "sigmoid":
      return g.mul(y.mul(y.neg().add(1)));
    case "silu": {
      const s = x.sigmoid();
      return g.mul(s.mul(x.mul(s.neg().add(1)).add(1)));
    }
    case "gelu": {
      // Φ(x) + x φ(x)
      const cdf = x.mul(Math.SQRT1_2).erf().add(1).mul(0.5);
      const pdf = x.mul(x).mul(-0.5).exp().mul(INV_SQRT_2PI);
      return g.mul(cdf.add(x.mul(pdf)));
    }
    case "gelu_tanh": {
      // With u = c (x + a x^3), 1 + tanh(u) = 2 s and 1 - tanh(u) = 2 (1 - s) for s = sigmoid(2u), so
      // d/dx 0.5 x (1 + tanh(u)) = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) u' = s (1 + x (1 - s) 2u'):
      // 13 full-size passes (one exp) instead of 19 (one Math.tanh, twice as slow).
      const [c, a] = [SQRT_2_OVER_PI, 0.044715];
      const x2 = x.mul(x);
      const s = x2
        .mul(2 * c * a)
        .add(2 * c)
        .mul(x)
        .sigmoid();
      const du2 = x2.mul(6 * a * c).add(2 * c);
      return g.mul(s).mul(binary("sub", 1, s).mul(x).mul(du2).add(1));
    }
    case "sign":
    case "floor":
    case "not":
      return null;
  }
}

/** Turns a number operand into a scalar tensor of the other operand's dtype. */
function asTensor(value: Operand, like: Tensor, op: string): Tensor {
  if (typeof value !== "number") return value;
  if (like.dtype === "int32" && !Number.isInteger(value)) {
    throw new DTypeError(`${op}: cannot combine an int32 tensor with the non-integer ${value}; cast the tensor with .float()`);
  }
  return scalar(value, like.dtype, like.backend);
}

export function binary(op: BinaryOp, aIn: Operand, bIn: Operand): Tensor {
  // A number becomes a scalar tensor; the scope frees it unless backward needs it.
  if (typeof aIn === "number" || typeof bIn === "number") return tidy(() => binaryOfTensors(op, aIn, bIn));
  return binaryOfTensors(op, aIn, bIn);
}

function binaryOfTensors(op: BinaryOp, aIn: Operand, bIn: Operand): Tensor {
  const a = typeof aIn === "number" ? asTensor(aIn, bIn as Tensor, op) : aIn;
  const b = asTensor(bIn, a, op);
  if (a.dtype !== b.dtype) {
    throw new DTypeError(`${op}: operands must share a dtype, got ${a.dtype} and ${b.dtype}; cast one with .cast()`);
  }
  if (LOGICAL.has(op)) requireDType(a, ["bool"], op);
  else if (COMPARISONS.has(op)) requireDType(a, ["float32", "int32", "bool"], op);
  else requireDType(a, ["float32", "int32"], op);
  const backend = sameBackend(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape, op);
  const dtype: DType = COMPARISONS.has(op) ? "bool" : a.dtype;
  const out = fromBuffer(backend, backend.binary(op, broadcastView(a, shape), broadcastView(b, shape)), shape, dtype);
  if (dtype !== "float32") return out;
  return record(out, op, [a, b], (g) => {
    const [ga, gb] = binaryGrad(op, a, b, out, g);
    return [ga && sumToShape(ga, a.shape), gb && sumToShape(gb, b.shape)];
  });
}

function binaryGrad(op: BinaryOp, a: Tensor, b: Tensor, y: Tensor, g: Tensor): [Tensor | null, Tensor | null] {
  switch (op) {
    case "add":
      return [g, g];
    case "sub":
      return [g, g.neg()];
    case "mul":
      return [a.requiresGrad ? g.mul(b) : null, b.requiresGrad ? g.mul(a) : null];
    case "div":
      return [a.requiresGrad ? g.div(b) : null, b.requiresGrad ? g.mul(y).div(b).neg() : null];
    case "pow":
      return [a.requiresGrad ? g.mul(b).mul(a.pow(b.sub(1))) : null, b.requiresGrad ? g.mul(y).mul(a.log()) : null];
    case "maximum": {
      const aWins = a.ge(b).float();
      return [g.mul(aWins), g.mul(aWins.neg().add(1))];
    }
    case "minimum": {
      const aWins = a.le(b).float();
      return [g.mul(aWins), g.mul(aWins.neg().add(1))];
    }
    default:
      return [null, null];
  }
}

/** Picks a where cond is true, b elsewhere, with broadcasting. */
export function where(cond: Tensor, aIn: Operand, bIn: Operand): Tensor {
  if (typeof aIn === "number" || typeof bIn === "number") return tidy(() => whereOfTensors(cond, aIn, bIn));
  return whereOfTensors(cond, aIn, bIn);
}

function whereOfTensors(cond: Tensor, aIn: Operand, bIn: Operand): Tensor {
  requireDType(cond, ["bool"], "where", "cond");
  const a = typeof aIn !== "number" ? aIn : typeof bIn === "number" ? scalar(aIn, "float32", cond.backend) : asTensor(aIn, bIn, "where");
  const b = asTensor(bIn, a, "where");
  if (a.dtype !== b.dtype) throw new DTypeError(`where: a and b must share a dtype, got ${a.dtype} and ${b.dtype}`);
  const backend = sameBackend("where", cond, a, b);
  const shape = broadcastShapes(broadcastShapes(cond.shape, a.shape, "where"), b.shape, "where");
  const views = [cond, a, b].map((t) => broadcastView(t, shape)) as [StridedView, StridedView, StridedView];
  const out = fromBuffer(backend, backend.where(...views), shape, a.dtype);
  if (a.dtype !== "float32") return out;
  return record(
    out,
    "where",
    [a, b],
    (g) => {
      const zero = scalar(0, "float32", backend);
      return [
        a.requiresGrad ? sumToShape(where(cond, g, zero), a.shape) : null,
        b.requiresGrad ? sumToShape(where(cond, zero, g), b.shape) : null,
      ];
    },
    [cond],
  );
}

/** Sets the entries where mask is true to `value` (mask broadcasts against x). */
export function maskedFill(x: Tensor, mask: Tensor, value: number): Tensor {
  const out = where(mask, value, x);
  if (!shapesEqual(out.shape, x.shape)) {
    throw new ShapeError(`maskedFill: mask of shape ${fmtShape(mask.shape)} must broadcast to x's shape ${fmtShape(x.shape)}`);
  }
  return out;
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  if (isQuantized(dtype))
    throw new DTypeError(`cast: casting to ${dtype} is quantization, along one axis: use quantizeTensor(x, "${dtype}")`);
  // No gradient flows through a cast: only float32 tensors carry gradients.
  return fromBuffer(x.backend, x.backend.cast(x.view(), dtype), x.shape, dtype);
}
