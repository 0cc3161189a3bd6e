/**
 * A tiny WebAssembly binary emitter: just the sections, types and opcodes the CPU kernels use
 * (i32 arithmetic, structured control flow, 128-bit SIMD loads/stores and f32x4 arithmetic).
 * Opcode values are from the WebAssembly core spec (binary format) and the SIMD proposal.
 */

/** Value types. */
export const i32 = 0x7f;
export const f32 = 0x7d;
export const v128 = 0x7b;
export const f64 = 0x7c;
export type ValType = typeof i32 | typeof f32 | typeof v128 | typeof f64;

/** Unsigned LEB128 (section sizes, indices, memarg fields, SIMD sub-opcodes). */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (i32.const immediates). */
export function sleb(n: number): number[] {
  const out: number[] = [];
  n |= 0;
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

/**
 * Bytes appended an instruction at a time into a Uint8Array that doubles as it fills. A module's
 * code held as a JS array of numbers lived through the young generation's collections while it
 * was built, and V8 grew that generation for it (4 MiB of resident memory for the process's life).
 */
export class ByteSink {
  private buffer = new Uint8Array(256);
  length = 0;

  push(...bytes: number[]): void {
    this.reserve(bytes.length);
    for (const b of bytes) this.buffer[this.length++] = b;
  }

  append(bytes: Uint8Array): void {
    this.reserve(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** The bytes written so far (a view: appending more may replace the buffer under it). */
  view(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  private reserve(more: number): void {
    if (this.length + more <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < this.length + more) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.view());
    this.buffer = grown;
  }
}

/** A UTF-8 name, length-prefixed. */
function name(out: ByteSink, s: string): void {
  const bytes = new TextEncoder().encode(s);
  out.push(...uleb(bytes.length));
  out.append(bytes);
}

/** A length-prefixed vector: the count, then each item written by `write`. */
function vec<T>(out: ByteSink, items: readonly T[], write: (item: T, i: number) => void): void {
  out.push(...uleb(items.length));
  items.forEach(write);
}

/** A section: its id, its content's length, its content (written by `write` first, to measure). */
function section(out: ByteSink, id: number, write: (content: ByteSink) => void): void {
  const content = new ByteSink();
  write(content);
  out.push(id, ...uleb(content.length));
  out.append(content.view());
}

/**
 * A function body under construction: one method per instruction, named after the opcode.
 * Loads and stores take a static byte offset (the memarg offset immediate), so unrolled code
 * addresses neighbours of one base pointer without extra adds.
 */
// biome-ignore format: the opcode methods are a table, one line each
export class Code {
  readonly bytes = new ByteSink();

  private op(...bytes: number[]): this {
    this.bytes.push(...bytes);
    return this;
  }

  /** SIMD instructions: the 0xfd prefix, then the sub-opcode as a LEB128. */
  private simd(sub: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(sub), ...imm);
  }

  /** memarg: log2 of the alignment hint, then the byte offset. */
  private memarg(alignLog2: number, offset: number): number[] {
    return [...uleb(alignLog2), ...uleb(offset)];
  }

  // control flow; block types are always empty (0x40)
  block(): this { return this.op(0x02, 0x40); }
  loop(): this { return this.op(0x03, 0x40); }
  if(): this { return this.op(0x04, 0x40); }
  else(): this { return this.op(0x05); }
  end(): this { return this.op(0x0b); }
  br(depth: number): this { return this.op(0x0c, ...uleb(depth)); }
  brIf(depth: number): this { return this.op(0x0d, ...uleb(depth)); }
  call(func: number): this { return this.op(0x10, ...uleb(func)); }

  // locals
  localGet(i: number): this { return this.op(0x20, ...uleb(i)); }
  localSet(i: number): this { return this.op(0x21, ...uleb(i)); }
  localTee(i: number): this { return this.op(0x22, ...uleb(i)); }

  // i32
  i32Const(n: number): this { return this.op(0x41, ...sleb(n)); }
  i32Eqz(): this { return this.op(0x45); }
  i32Ne(): this { return this.op(0x47); }
  i32LtU(): this { return this.op(0x49); }
  i32Add(): this { return this.op(0x6a); }
  i32Sub(): this { return this.op(0x6b); }
  i32Mul(): this { return this.op(0x6c); }

  // v128 memory (alignment hints: 16 bytes for whole vectors, 4 for a splatted float)
  v128Load(offset = 0): this { return this.simd(0x00, ...this.memarg(4, offset)); }
  v128Load32Splat(offset = 0): this { return this.simd(0x09, ...this.memarg(2, offset)); }
  v128Store(offset = 0): this { return this.simd(0x0b, ...this.memarg(4, offset)); }
  v128Const0(): this { return this.simd(0x0c, ...new Array<number>(16).fill(0)); }
  /** i8x16.shuffle of the two vectors on the stack, given as four f32 lanes (0-3 first, 4-7 second). */
  f32x4Shuffle(lanes: readonly [number, number, number, number]): this {
    return this.simd(0x0d, ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]));
  }

  /** v128.const of one float32 in all four lanes. */
  f32x4Const(value: number): this {
    const lane = [...new Uint8Array(new Float32Array([value]).buffer)];
    return this.simd(0x0c, ...lane, ...lane, ...lane, ...lane);
  }
  /** v128.const of one int32 in all four lanes. */
  i32x4Const(value: number): this {
    const lane = [...new Uint8Array(new Int32Array([value]).buffer)];
    return this.simd(0x0c, ...lane, ...lane, ...lane, ...lane);
  }

  // v128 bitwise: bitselect takes (a, b, mask) and gives a where mask bits are set, else b
  v128AndNot(): this { return this.simd(0x4f); }
  v128Bitselect(): this { return this.simd(0x52); }

  // f32x4
  f32x4Splat(): this { return this.simd(0x13); }
  f32x4ExtractLane(lane: number): this { return this.simd(0x1f, lane); }
  i32x4ExtractLane(lane: number): this { return this.simd(0x1b, lane); }
  f32x4Lt(): this { return this.simd(0x43); }
  f32x4Gt(): this { return this.simd(0x44); }
  f32x4Nearest(): this { return this.simd(0x6a); }
  f32x4Add(): this { return this.simd(0xe4); }
  f32x4Sub(): this { return this.simd(0xe5); }
  f32x4Mul(): this { return this.simd(0xe6); }
  f32x4Div(): this { return this.simd(0xe7); }
  f32x4Min(): this { return this.simd(0xe8); }
  f32x4Max(): this { return this.simd(0xe9); }
  /** b < a ? b : a (stack a, b): one minps, where f32x4.min's NaN and signed-zero rules take six instructions on x64. */
  f32x4Pmin(): this { return this.simd(0xea); }
  /** a < b ? b : a (stack a, b): one maxps (see f32x4Pmin). */
  f32x4Pmax(): this { return this.simd(0xeb); }

  // f64x2: widening float32 lanes, for sums that must not lose float32's precision
  f64x2PromoteLowF32x4(): this { return this.simd(0x5f); }
  f64x2Add(): this { return this.simd(0xf0); }
  f64x2ExtractLane(lane: number): this { return this.simd(0x21, lane); }
  f32x4DemoteF64x2Zero(): this { return this.simd(0x5e); }
  f64Add(): this { return this.op(0xa0); }
  f64Const0(): this { return this.op(0x44, 0, 0, 0, 0, 0, 0, 0, 0); }
  f64PromoteF32(): this { return this.op(0xbb); }
  f32DemoteF64(): this { return this.op(0xb6); }

  // i32x4
  i32x4Shl(): this { return this.simd(0xab); }
  i32x4Add(): this { return this.simd(0xae); }
  i32x4TruncSatF32x4S(): this { return this.simd(0xf8); }

  // f32 scalar memory and arithmetic
  f32Load(offset = 0): this { return this.op(0x2a, ...this.memarg(2, offset)); }
  f32Store(offset = 0): this { return this.op(0x38, ...this.memarg(2, offset)); }
  /** Eight bytes moved as one integer (two float32 copied bit for bit). */
  i64Load(offset = 0): this { return this.op(0x29, ...this.memarg(3, offset)); }
  i64Store(offset = 0): this { return this.op(0x37, ...this.memarg(3, offset)); }
  f32Add(): this { return this.op(0x92); }

  // more scalar ops, for the resident kernels (resident/*.ts)
  return(): this { return this.op(0x0f); }
  select(): this { return this.op(0x1b); }
  drop(): this { return this.op(0x1a); }
  i32Load8U(offset = 0): this { return this.op(0x2d, ...this.memarg(0, offset)); }
  i32Load(offset = 0): this { return this.op(0x28, ...this.memarg(2, offset)); }
  i32Store(offset = 0): this { return this.op(0x36, ...this.memarg(2, offset)); }
  i32Eq(): this { return this.op(0x46); }
  i32LeS(): this { return this.op(0x4c); }
  i32LtS(): this { return this.op(0x48); }
  i32GtS(): this { return this.op(0x4a); }
  i32GtU(): this { return this.op(0x4b); }
  i32LeU(): this { return this.op(0x4d); }
  i32GeU(): this { return this.op(0x4f); }
  i32DivU(): this { return this.op(0x6e); }
  i32RemU(): this { return this.op(0x70); }
  i32And(): this { return this.op(0x71); }
  i32Shl(): this { return this.op(0x74); }
  i32ShrU(): this { return this.op(0x76); }
  f32Const(value: number): this { return this.op(0x43, ...new Uint8Array(new Float32Array([value]).buffer)); }
  f32Eq(): this { return this.op(0x5b); }
  f32Ne(): this { return this.op(0x5c); }
  f32Lt(): this { return this.op(0x5d); }
  f32Gt(): this { return this.op(0x5e); }
  f32Sqrt(): this { return this.op(0x91); }
  f32ConvertI32U(): this { return this.op(0xb3); }
  f32ConvertI32S(): this { return this.op(0xb2); }
  i32ReinterpretF32(): this { return this.op(0xbc); }
  f32Abs(): this { return this.op(0x8b); }
  f32Sub(): this { return this.op(0x93); }
  f32Mul(): this { return this.op(0x94); }
  f32Div(): this { return this.op(0x95); }
  f32Min(): this { return this.op(0x96); }
  f32Max(): this { return this.op(0x97); }
  v128Load32Zero(offset = 0): this { return this.simd(0x5c, ...this.memarg(2, offset)); }
  v128Store32Lane(lane: number, offset = 0): this { return this.simd(0x5a, ...this.memarg(2, offset), lane); }
  f32x4ReplaceLane(lane: number): this { return this.simd(0x20, lane); }
  f32x4Eq(): this { return this.simd(0x41); }
  f32x4Abs(): this { return this.simd(0xe0); }
  f32x4Neg(): this { return this.simd(0xe1); }
  f32x4Sqrt(): this { return this.simd(0xe3); }
  /** Relaxed SIMD's f32x4.relaxed_madd: a * b + c (fused where the CPU has FMA), stack a, b, c. */
  f32x4RelaxedMadd(): this { return this.simd(0x105); }
}

export interface FuncDef {
  name: string;
  params: ValType[];
  /** Extra locals after the parameters, in order. */
  locals: ValType[];
  body: Code;
}

/** How a module imports its memory. */
export interface MemoryImport {
  /** A shared memory (SharedArrayBuffer; threads): the import must then declare a maximum. */
  shared: boolean;
}

/** The largest wasm32 memory in pages: shared imports declare it, so any shared memory matches. */
const MAX_PAGES = 65536;

/**
 * A module importing one memory as env.memory and exporting the given functions (no results).
 * Functions are numbered in order, so a body can `call(i)` the i-th.
 */
export function emitModule(funcs: FuncDef[], memory: MemoryImport = { shared: false }): Uint8Array {
  const out = new ByteSink();
  out.push(0x00, 0x61, 0x73, 0x6d); // "\0asm"
  out.push(0x01, 0x00, 0x00, 0x00); // version 1
  // type section: one func type per function, (params) -> ()
  section(out, 1, (s) =>
    vec(s, funcs, (f) => {
      s.push(0x60);
      vec(s, f.params, (t) => s.push(t));
      s.push(0x00);
    }),
  );
  // import section: env.memory, a memory with a minimum of 1 page and no maximum (flags 0), or a
  // shared one with the largest maximum (flags 3: shared, has maximum)
  section(out, 2, (s) =>
    vec(s, [memory], (m) => {
      name(s, "env");
      name(s, "memory");
      s.push(0x02);
      if (m.shared) s.push(0x03, ...uleb(1), ...uleb(MAX_PAGES));
      else s.push(0x00, 0x01);
    }),
  );
  section(out, 3, (s) => vec(s, funcs, (_, i) => s.push(...uleb(i))));
  section(out, 7, (s) =>
    vec(s, funcs, (f, i) => {
      name(s, f.name);
      s.push(0x00, ...uleb(i));
    }),
  );
  section(out, 10, (s) =>
    vec(s, funcs, (f) => {
      // locals are run-length encoded: (count, type) groups
      const groups: [number, ValType][] = [];
      for (let i = 0; i < f.locals.length; ) {
        let j = i;
        while (j < f.locals.length && f.locals[j] === f.locals[i]) j++;
        groups.push([j - i, f.locals[i]!]);
        i = j;
      }
      const body = new ByteSink();
      vec(body, groups, ([count, type]) => body.push(...uleb(count), type));
      body.append(f.body.bytes.view());
      body.push(0x0b);
      s.push(...uleb(body.length));
      s.append(body.view());
    }),
  );
  return out.view().slice();
}
