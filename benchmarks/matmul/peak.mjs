// The WebAssembly SIMD peak of one core: a kernel that only multiplies and adds f32x4 values in
// registers (eight independent accumulators, acc += a * b as a matmul kernel does), the ceiling
// any matmul kernel on 128-bit SIMD can reach here. `a` is loaded from memory once per eight
// multiply-adds (a matmul kernel loads its operands too; a constant would let the engine hoist the
// product out of the loop), on the load ports, not the arithmetic ones. With `fma`, relaxed SIMD's
// fused multiply-add (only where the engine has relaxed SIMD). int8Peak does the same for integer
// dot products: the ceiling of any int8 kernel (llama.cpp's quantized matmuls) on 128-bit SIMD.

const uleb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const simd = (op) => [0xfd, ...uleb(op)];
/**
 * Tiles tried (the best counts): 2 x 3 keeps six accumulators, three b, one a and a product in
 * registers; 2 x 4 needs no product register with fused multiply-adds (a multiply and an add made
 * V8 spill one accumulator there), and eight chains hide the longer latency of the fused op.
 */
const TILES = [
  [2, 3],
  [2, 4],
];

/**
 * What one accumulator step is: `muladd` f32x4 mul + add (4 multiply-adds), `fma` relaxed madd (4),
 * `dot16` i32x4.dot_i16x8_s + i32x4.add (8), `dot8` relaxed SIMD's i16x8.relaxed_dot_i8x16_i7x16_s
 * + i16x8.add (16, summed in int16 as llama.cpp's AVX2 maddubs path does before widening).
 */
const STEPS = {
  muladd: { macs: 4, ops: [...simd(0xe6), "acc", ...simd(0xe4)] },
  fma: { macs: 4, ops: ["acc", ...simd(0x105)] },
  dot16: { macs: 8, ops: [...simd(0xba), "acc", ...simd(0xae)] },
  dot8: { macs: 16, ops: [...simd(0x112), "acc", ...simd(0x8e)] },
};

/**
 * The module's bytes: `peak(iterations)` runs iterations x ACC x (the step's) multiply-adds, as a tile:
 * acc[i][j] += a[i] . b[j], with a and b loaded from one cache line each iteration (eight distinct
 * products, so none can be shared or hoisted).
 */
function peakModule(kind, ROWS, COLS) {
  const ACC = ROWS * COLS;
  // locals: 0 = iterations (param), 1..ACC accumulators, then a, then the b
  const body = [];
  const localGet = (i) => body.push(0x20, i);
  const localSet = (i) => body.push(0x21, i);
  body.push(0x03, 0x40); // loop
  const [A, B] = [ACC + 1, ACC + 2];
  for (let j = 0; j < COLS; j++) {
    body.push(0x41, 0, ...simd(0x00), 4, 32 + 16 * j); // b[j] = v128.load(32 + 16 j)
    localSet(B + j);
  }
  for (let i = 0; i < ROWS; i++) {
    body.push(0x41, 0, ...simd(0x00), 4, 16 * i); // a = v128.load(16 i), row i's
    localSet(A);
    for (let j = 0; j < COLS; j++) {
      const r = 1 + i * COLS + j;
      localGet(A);
      localGet(B + j);
      for (const op of STEPS[kind].ops) {
        if (op === "acc") localGet(r);
        else body.push(op);
      }
      localSet(r);
    }
  }
  localGet(0);
  body.push(0x41, 1, 0x6b); // i32.const 1, i32.sub
  body.push(0x22, 0); // local.tee 0
  body.push(0x0d, 0); // br_if 0
  body.push(0x0b); // end loop
  // keep the accumulators alive: store their sum at address 0
  body.push(0x41, 0);
  localGet(1);
  for (let r = 2; r <= ACC; r++) {
    localGet(r);
    body.push(...simd(0xe4));
  }
  body.push(...simd(0x0b), 4, 0); // v128.store
  const locals = [0x01, ACC + 1 + COLS, 0x7b]; // one group of v128 locals
  const code = [...locals, ...body, 0x0b];
  const func = [...uleb(code.length), ...code];
  const section = (id, content) => [id, ...uleb(content.length), ...content];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, [1, 0x60, 1, 0x7f, 0]), // type: (i32) -> ()
    ...section(2, [1, 3, ...[..."env"].map((c) => c.charCodeAt(0)), 6, ...[..."memory"].map((c) => c.charCodeAt(0)), 0x02, 0x00, 0x01]),
    ...section(3, [1, 0]),
    ...section(7, [1, 4, ...[..."peak"].map((c) => c.charCodeAt(0)), 0x00, 0]),
    ...section(10, [1, ...func]),
  ]);
}

/** Multiply-adds per second (G) of the register-only kernel of `kind` on this thread (best tile, best of a few runs), or null where it does not compile. */
function peakOf(kind) {
  let best = null;
  for (const [rows, cols] of TILES) {
    const bytes = peakModule(kind, rows, cols);
    if (!WebAssembly.validate(bytes)) return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    new Float32Array(memory.buffer).fill(1.0000001, 0, 8);
    new Float32Array(memory.buffer).fill(0.9999999, 8, 24);
    const { peak } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
    const iterations = 5_000_000;
    peak(1000); // tier up
    peak(1000);
    for (let r = 0; r < 5; r++) {
      const usage = process.cpuUsage();
      peak(iterations);
      const { user, system } = process.cpuUsage(usage);
      best = Math.max(best ?? 0, (iterations * rows * cols * STEPS[kind].macs) / ((user + system) * 1e3));
    }
  }
  return best;
}

/** GFLOP/s of the register-only float32 kernel (two flops a multiply-add), or null where it does not compile. */
export function simdPeak(fma = false) {
  const macs = peakOf(fma ? "fma" : "muladd");
  return macs === null ? null : 2 * macs;
}

/**
 * G int8 multiply-adds per second of the register-only integer dot-product kernel: plain SIMD's
 * i32x4.dot_i16x8_s (int8 values widened to int16 first), or with `relaxed` relaxed SIMD's int8
 * dot product (null where the engine has no relaxed SIMD). No block scales, no loads of real data:
 * an upper bound for any int8 matmul kernel on 128-bit SIMD here.
 */
export function int8Peak(relaxed = false) {
  return peakOf(relaxed ? "dot8" : "dot16");
}
