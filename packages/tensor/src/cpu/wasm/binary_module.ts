import { bump, countdown, FnBuilder } from "./builder.js";
import { i32, v128, type Code, type FuncDef } from "./encoder.js";

/**
 * float32 arithmetic on operands where they live in wasm memory, as rows (addresses and strides
 * in bytes): `binary_<op>(a, sa, b, sb, bOne, out, rows, cols)` sets out row r (contiguous, cols
 * floats) to a row r (a + r*sa, contiguous) op b row r (b + r*sb, contiguous; or, when bOne, the
 * single float at b + r*sb). So one call covers same-shaped operands (one long row), a bias row
 * broadcast over rows (sb = 0), a scalar (bOne, sb = 0) and a column broadcast (bOne, sb = 4).
 * The last cols % 4 elements of a row go one lane at a time: nothing past a row is written.
 */
const OPS = {
  add: (f: Code) => f.f32x4Add(),
  sub: (f: Code) => f.f32x4Sub(),
  mul: (f: Code) => f.f32x4Mul(),
  div: (f: Code) => f.f32x4Div(),
} as const;
export type ResidentBinaryOp = keyof typeof OPS;
export const RESIDENT_BINARY_OPS = Object.keys(OPS) as ResidentBinaryOp[];

function binary(op: ResidentBinaryOp): FuncDef {
  const b = new FnBuilder(`binary_${op}`);
  const f = b.f;
  const a = b.param(i32);
  const sa = b.param(i32);
  const bp = b.param(i32);
  const sb = b.param(i32);
  const bOne = b.param(i32);
  const out = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const pa = b.local(i32);
  const pb = b.local(i32);
  const po = b.local(i32);
  const j = b.local(i32);
  const bStep = b.local(i32);
  const bv = b.local(v128);
  // b advances with a, or stays (one value per row)
  f.localGet(bOne).if().i32Const(0).localSet(bStep).else().i32Const(16).localSet(bStep).end();
  countdown(f, rows, () => {
    f.localGet(a).localSet(pa).localGet(bp).localSet(pb).localGet(out).localSet(po);
    f.localGet(pb).v128Load32Splat().localSet(bv);
    for (const tail of [false, true]) {
      if (tail) f.localGet(cols).i32Const(3).i32And().localSet(j);
      else f.localGet(cols).i32Const(2).i32ShrU().localSet(j);
      countdown(f, j, () => {
        f.localGet(po);
        f.localGet(pa);
        if (tail) f.v128Load32Zero();
        else f.v128Load();
        // b: the splat, or the next vector (zero-extended float in the tail)
        f.localGet(bOne).if();
        f.else();
        f.localGet(pb);
        if (tail) f.v128Load32Zero();
        else f.v128Load();
        f.localSet(bv);
        f.end();
        f.localGet(bv);
        OPS[op](f);
        if (tail) f.v128Store32Lane(0);
        else f.v128Store();
        const step = tail ? 4 : 16;
        bump(f, pa, step);
        bump(f, po, step);
        if (tail) f.localGet(pb).localGet(bStep).i32Const(2).i32ShrU().i32Add().localSet(pb);
        else f.localGet(pb).localGet(bStep).i32Add().localSet(pb);
      });
    }
    f.localGet(a).localGet(sa).i32Add().localSet(a);
    f.localGet(bp).localGet(sb).i32Add().localSet(bp);
    f.localGet(out).localGet(cols).i32Const(2).i32Shl().i32Add().localSet(out);
  });
  return b.def();
}

export function binaryFunctions(): FuncDef[] {
  return RESIDENT_BINARY_OPS.map(binary);
}
