import { Code, type FuncDef, type ValType } from "./encoder.js";

/**
 * A function under construction with named slots: parameters first, then locals, each call
 * returning its index, so kernel code reads `f.localGet(rows)` rather than `f.localGet(7)`.
 */
export class FnBuilder<C extends Code = Code> {
  private readonly params: ValType[] = [];
  private readonly locals: ValType[] = [];

  /** `f`: the code to write into (a subclass where the function needs opcodes Code lacks). */
  constructor(
    readonly name: string,
    readonly f: C = new Code() as C,
  ) {}

  param(type: ValType): number {
    if (this.locals.length > 0) throw new Error(`wasm builder: ${this.name}: parameters come before locals`);
    this.params.push(type);
    return this.params.length - 1;
  }

  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  def(): FuncDef {
    return { name: this.name, params: this.params, locals: this.locals, body: this.f };
  }
}

/** `body` run `n` times (local `n`, counted down to 0; nothing when it starts at 0 or below). */
export function countdown(f: Code, n: number, body: () => void): void {
  f.block().localGet(n).i32Const(0).i32LeS().brIf(0);
  f.loop();
  body();
  f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  f.end().end();
}

/** local += step (i32). */
export function bump(f: Code, local: number, step: number | { local: number }): void {
  f.localGet(local);
  if (typeof step === "number") f.i32Const(step);
  else f.localGet(step.local);
  f.i32Add().localSet(local);
}

/**
 * acc + a * b for f32x4, with relaxed SIMD's fused multiply-add where `fma` (one rounding) or a
 * multiply then an add (two): `a`, `b` and `acc` push their operands.
 */
export function mulAdd(f: Code, fma: boolean, a: () => void, b: () => void, acc: () => void): void {
  if (fma) {
    a();
    b();
    acc();
    f.f32x4RelaxedMadd();
  } else {
    acc();
    a();
    b();
    f.f32x4Mul().f32x4Add();
  }
}

/** The four lanes of the f32x4 in `v` added as (0 + 1) + (2 + 3), onto the stack as an f32. */
export function horizontalSum(f: Code, v: number): void {
  f.localGet(v).f32x4ExtractLane(0).localGet(v).f32x4ExtractLane(1).f32Add();
  f.localGet(v).f32x4ExtractLane(2).localGet(v).f32x4ExtractLane(3).f32Add();
  f.f32Add();
}
