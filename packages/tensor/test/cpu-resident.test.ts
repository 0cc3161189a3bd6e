import { afterAll, describe, expect, it } from "vitest";
import type { BackendBuffer, StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { randomF32 } from "./cpu-helpers.js";

// The resident kernels: operands where they live in WebAssembly memory, work split over threads.
// Every product is checked against a float64 reference, and the same product on 1, 2 and 3
// threads must agree bit for bit (each output is computed the same way whichever thread does it).
// minWorkPerThread 0 splits even the smallest kernels, so the splits are exercised at every size.

const backends = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: false }));
afterAll(() => {
  for (const b of backends) b.close();
});

/** Runs fn and says which resident kernels it called, and whether worker threads took parts. */
function traced(fn: () => void): { calls: Map<string, number>; workerParts: number } {
  const calls = new Map(residentStats.calls);
  const workerParts = residentStats.workerParts;
  fn();
  const made = new Map<string, number>();
  for (const [name, n] of residentStats.calls) if (n !== (calls.get(name) ?? 0)) made.set(name, n - (calls.get(name) ?? 0));
  return { calls: made, workerParts: residentStats.workerParts - workerParts };
}

function view(be: CpuBackend, data: Float32Array, shape: number[], strides?: number[], offset = 0): StridedView {
  const s = strides ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  return { buffer: be.upload(data, "float32"), shape, strides: s, offset };
}

function read(be: CpuBackend, b: BackendBuffer): Float32Array {
  return be.readSync(b) as Float32Array;
}

/** x [1, K] times W [K, N] ("in_out") or W^T with W [N, K] ("out_in"), in float64. */
function reference(x: Float32Array, w: Float32Array, K: number, N: number, layout: "in_out" | "out_in"): Float64Array {
  const y = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += x[k]! * w[layout === "in_out" ? k * N + n : n * K + k]!;
    y[n] = s;
  }
  return y;
}

function vectorProduct(be: CpuBackend, x: Float32Array, w: Float32Array, K: number, N: number, layout: "in_out" | "out_in"): Float32Array {
  const a = view(be, x, [1, K]);
  const b = layout === "in_out" ? view(be, w, [K, N]) : view(be, w, [K, N], [1, K]);
  return read(be, be.matmul(a, b));
}

describe("resident matrix-vector products (decoding)", () => {
  const shapes = [
    [1, 1],
    [3, 5],
    [17, 33],
    [64, 50],
    [768, 129],
    [130, 1030],
  ] as const;
  for (const layout of ["in_out", "out_in"] as const) {
    it(`x @ W with W stored ${layout}: matches float64, the same on 1, 2 and 3 threads`, () => {
      let seed = 1;
      let workerParts = 0;
      for (const [K, N] of shapes) {
        const x = randomF32(K, seed++);
        const w = randomF32(K * N, seed++);
        const want = reference(x, w, K, N, layout);
        const results: Float32Array[] = [];
        const trace = traced(() => results.push(...backends.map((be) => vectorProduct(be, x, w, K, N, layout))));
        // a one-column weight is contiguous along k either way: a dot product
        expect([...trace.calls.keys()]).toEqual([layout === "in_out" && N > 1 ? "axpy_rows" : "dot_rows"]);
        workerParts += trace.workerParts;
        for (let n = 0; n < N; n++)
          expect(Math.abs(results[0]![n]! - want[n]!), `K ${K} N ${N} n ${n}`).toBeLessThan(1e-5 * Math.sqrt(K) + 1e-6);
        expect(results[1], `K ${K} N ${N}: 2 threads`).toEqual(results[0]);
        expect(results[2], `K ${K} N ${N}: 3 threads`).toEqual(results[0]);
      }
      // worker threads took parts (the caller runs parts itself that no worker starts in time)
      expect(workerParts).toBeGreaterThan(0);
    });
  }
});

/** An [rows, cols] operand stored plain, transposed (a view of [cols, rows]), or every other column of a wider matrix. */
function operand(be: CpuBackend, rows: number, cols: number, seed: number, stored: "plain" | "transposed" | "strided") {
  if (stored === "plain") {
    const data = randomF32(rows * cols, seed);
    return { view: view(be, data, [rows, cols]), at: (i: number, j: number) => data[i * cols + j]! };
  }
  if (stored === "transposed") {
    const data = randomF32(rows * cols, seed);
    return { view: view(be, data, [rows, cols], [1, rows]), at: (i: number, j: number) => data[j * rows + i]! };
  }
  const data = randomF32(rows * cols * 2 + 1, seed);
  return { view: view(be, data, [rows, cols], [cols * 2, 2], 1), at: (i: number, j: number) => data[1 + i * cols * 2 + j * 2]! };
}

describe("resident GEMM (prefill, training)", () => {
  const shapes = [
    [2, 1, 1],
    [3, 5, 7],
    [5, 300, 33],
    [64, 64, 16],
    [130, 513, 40],
    [33, 257, 600],
  ] as const;
  for (const aStored of ["plain", "transposed"] as const) {
    for (const bStored of ["plain", "transposed", "strided"] as const) {
      it(`A ${aStored}, B ${bStored}: matches float64, the same on 1, 2 and 3 threads`, () => {
        let seed = 100;
        let workerParts = 0;
        for (const [M, K, N] of shapes) {
          const trace = traced(() => {});
          const results = backends.map((be) => {
            const a = operand(be, M, K, seed, aStored);
            const b = operand(be, K, N, seed + 1, bStored);
            let out: BackendBuffer | undefined;
            const t = traced(() => void (out = be.matmul(a.view, b.view)));
            trace.calls = t.calls;
            trace.workerParts += t.workerParts;
            return { out: read(be, out!), a, b };
          });
          expect([...trace.calls.keys()]).toEqual(["gemm"]);
          workerParts += trace.workerParts;
          seed += 2;
          const { a, b, out } = results[0]!;
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let p = 0; p < K; p++) s += a.at(i, p) * b.at(p, j);
              expect(Math.abs(out[i * N + j]! - s), `M ${M} K ${K} N ${N} at ${i},${j}`).toBeLessThan(1e-5 * Math.sqrt(K) + 1e-6);
            }
          }
          expect(results[1]!.out, `M ${M} K ${K} N ${N}: 2 threads`).toEqual(out);
          expect(results[2]!.out, `M ${M} K ${K} N ${N}: 3 threads`).toEqual(out);
        }
        expect(workerParts).toBeGreaterThan(0);
      });
    }
  }
});

describe("resident batched GEMM (attention's per-head products)", () => {
  // [batch, heads] entries, a transposed like k^T or plain; 6 entries share out over 1, 2 and 3
  // threads (one gemm_list call), 5 do not over 2 (each entry then splits its own columns)
  for (const [batch, heads, M, K, N] of [
    [2, 3, 17, 9, 33],
    [1, 5, 40, 64, 20],
    [3, 2, 128, 64, 128],
  ] as const) {
    for (const aTransposed of [false, true]) {
      it(`[${batch}, ${heads}] x ${M}x${K} @ ${K}x${N}, A ${aTransposed ? "transposed" : "plain"}: every entry the bits of its own 2-D product, on 1, 2 and 3 threads`, () => {
        const count = batch * heads;
        const aData = randomF32(count * M * K, 7 + M);
        const bData = randomF32(count * K * N, 8 + N);
        const aStrides = aTransposed ? [heads * M * K, M * K, 1, M] : [heads * M * K, M * K, K, 1];
        const outs = backends.map((be) => {
          const a = view(be, aData, [batch, heads, M, K], aStrides);
          const b = view(be, bData, [batch, heads, K, N]);
          let out: BackendBuffer | undefined;
          const t = traced(() => void (out = be.matmul(a, b)));
          const listed = t.calls.get("gemm_list") ?? 0;
          if (count % Math.min(be.threads, count) === 0) expect(listed, `${be.threads} threads`).toBe(1);
          else expect(listed).toBe(0);
          // each entry alone, as a 2-D product
          const single = Array.from({ length: count }, (_, e) => {
            const ae = view(be, aData, [M, K], aStrides.slice(2), e * M * K);
            const bentry = view(be, bData, [K, N], [N, 1], e * K * N);
            return read(be, be.matmul(ae, bentry));
          });
          return { out: read(be, out!), single };
        });
        const { out, single } = outs[0]!;
        for (let e = 0; e < count; e++) {
          expect(out.subarray(e * M * N, (e + 1) * M * N), `entry ${e}`).toEqual(single[e]);
          for (let i = 0; i < M; i += 7) {
            for (let j = 0; j < N; j += 5) {
              let s = 0;
              for (let p = 0; p < K; p++) s += aData[e * M * K + i * aStrides[2]! + p * aStrides[3]!]! * bData[e * K * N + p * N + j]!;
              expect(Math.abs(out[e * M * N + i * N + j]! - s)).toBeLessThan(1e-5 * Math.sqrt(K) + 1e-6);
            }
          }
        }
        expect(outs[1]!.out, "2 threads").toEqual(out);
        expect(outs[2]!.out, "3 threads").toEqual(out);
      });
    }
  }
});

describe("resident attention", () => {
  const cases = [
    { B: 2, H: 3, Hkv: 3, T: 4, S: 6, D: 5 },
    { B: 2, H: 4, Hkv: 2, T: 3, S: 37, D: 16 },
    { B: 1, H: 6, Hkv: 1, T: 1, S: 130, D: 64 },
    { B: 1, H: 4, Hkv: 4, T: 33, S: 33, D: 12 },
  ];
  it("matches softmax(q k^T s + bias, masked) v in float64, with every key of a row masked too; the same on 1, 2 and 3 threads", () => {
    let seed = 500;
    for (const { B, H, Hkv, T, S, D } of cases) {
      const q = randomF32(B * T * H * D, seed++);
      const k = randomF32(B * S * Hkv * D, seed++);
      const v = randomF32(B * S * Hkv * D, seed++);
      const bias = randomF32(H * T * S, seed++);
      const maskHost = Uint8Array.from({ length: B * T * S }, (_, i) => (i % 7 === 3 || i < S ? 0 : 1)); // row 0 of batch 0 all masked
      const scale = 0.3;
      const outs: Float32Array[] = [];
      const trace = traced(() => {
        for (const be of backends) {
          // q, k, v stored [B, seq, heads, D] and viewed [B, heads, seq, D]; mask [B, 1, T, S]; bias [1, H, T, S]
          const qv = view(be, q, [B, H, T, D], [T * H * D, D, H * D, 1]);
          const kv = view(be, k, [B, Hkv, S, D], [S * Hkv * D, D, Hkv * D, 1]);
          const vv = view(be, v, [B, Hkv, S, D], [S * Hkv * D, D, Hkv * D, 1]);
          const mask: StridedView = { buffer: be.upload(maskHost, "bool"), shape: [B, H, T, S], strides: [T * S, 0, S, 1], offset: 0 };
          const bv = view(be, bias, [B, H, T, S], [0, T * S, S, 1]);
          outs.push(read(be, be.fused!.attention!(qv, kv, vv, mask, bv, scale)));
        }
      });
      expect([...trace.calls.keys()]).toEqual([T >= 16 ? "attention_blocks" : "attention"]); // the block kernel from 16 queries a head
      const G = H / Hkv;
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let t = 0; t < T; t++) {
            const logits: number[] = [];
            for (let s = 0; s < S; s++) {
              let dot = 0;
              for (let d = 0; d < D; d++) dot += q[((b * T + t) * H + h) * D + d]! * k[((b * S + s) * Hkv + Math.floor(h / G)) * D + d]!;
              const x = dot * scale + bias[(h * T + t) * S + s]!;
              logits.push(maskHost[(b * T + t) * S + s] ? x : -Infinity);
            }
            const max = Math.max(...logits);
            const e = logits.map((x) => (max === -Infinity ? 0 : Math.exp(x - max)));
            const sum = e.reduce((x, y) => x + y, 0);
            for (let d = 0; d < D; d++) {
              let want = 0;
              for (let s = 0; s < S; s++) want += sum === 0 ? 0 : (e[s]! / sum) * v[((b * S + s) * Hkv + Math.floor(h / G)) * D + d]!;
              const got = outs[0]![((b * H + h) * T + t) * D + d]!;
              expect(Math.abs(got - want), `case ${B},${H},${Hkv},${T},${S},${D} at ${b},${h},${t},${d}`).toBeLessThan(1e-5);
            }
          }
      expect(outs[1]).toEqual(outs[0]);
      expect(outs[2]).toEqual(outs[0]);
    }
  });
});

const plain = new CpuBackend({ wasm: false });

/** Runs fn on each threaded backend and on the JS backend; the threaded results must agree bit for bit and match JS within tol. */
function againstJs(name: string, fn: (be: CpuBackend) => Float32Array, tol: number, kernelName: string): void {
  const outs: Float32Array[] = [];
  const trace = traced(() => {
    for (const be of backends) outs.push(fn(be));
  });
  expect([...trace.calls.keys()], name).toContain(kernelName);
  const want = fn(plain);
  expect(outs[0]!.length, name).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    const g = outs[0]![i]!;
    if (!(Math.abs(g - w) <= tol * (1 + Math.abs(w)) || (Number.isNaN(g) && Number.isNaN(w)))) {
      expect.fail(`${name}: element ${i}: got ${g}, JS kernel ${w}`);
    }
  }
  expect(outs[1], `${name}: 2 threads`).toEqual(outs[0]);
  expect(outs[2], `${name}: 3 threads`).toEqual(outs[0]);
}

describe("resident row kernels", () => {
  for (const cols of [1, 3, 4, 7, 64, 770]) {
    const rows = 9;
    const x = randomF32(rows * cols, cols, 6);
    const w = randomF32(cols, cols + 1);
    const b = randomF32(cols, cols + 2);
    it(`layerNorm, rmsNorm and softmax over rows of ${cols}`, () => {
      const xv = (be: CpuBackend) => view(be, x, [rows, cols]);
      const pv = (be: CpuBackend, p: Float32Array) => view(be, p, [cols]);
      for (const [withW, withB] of [
        [true, true],
        [true, false],
        [false, true],
        [false, false],
      ] as const) {
        againstJs(
          `layerNorm w ${withW} b ${withB}`,
          (be) => read(be, be.fused!.layerNorm!(xv(be), withW ? pv(be, w) : null, withB ? pv(be, b) : null, 1e-5)),
          2e-5,
          "layer_norm",
        );
      }
      for (const withW of [true, false]) {
        againstJs(`rmsNorm w ${withW}`, (be) => read(be, be.fused!.rmsNorm!(xv(be), withW ? pv(be, w) : null, 1e-6)), 2e-5, "rms_norm");
      }
      const masked = x.slice();
      masked.fill(-Infinity, 0, cols); // a row with no mass anywhere gives zeros
      for (let i = cols; i < masked.length; i += 3) masked[i] = -Infinity;
      againstJs("softmax", (be) => read(be, be.fused!.softmax!(view(be, masked, [rows, cols]))), 2e-6, "softmax");
    });
  }
});

describe("resident argmax over the last axis", () => {
  // rows whose answers the two passes could get wrong: ties, signed zeros, infinities, NaN first,
  // NaN after the maximum or in the tail, all -Infinity; against the JS kernel's index exactly
  const specials = [Number.NaN, -0, 0, Infinity, -Infinity];
  for (const cols of [1, 2, 3, 4, 5, 8, 9, 33, 1031]) {
    it(`rows of ${cols}, every kind of row`, () => {
      const rows = 24;
      const x = randomF32(rows * cols, cols, 4).map((v) => (cols > 8 ? v : Math.round(v))); // short rows tie
      for (let r = 0; r < rows; r++) {
        const row = x.subarray(r * cols, (r + 1) * cols);
        if (r === 1) row.fill(-Infinity);
        if (r === 2) row.fill(0).forEach((_, i) => (row[i] = i % 2 ? 0 : -0));
        if (r >= 3) row[(r * 7) % cols] = specials[r % specials.length]!;
        if (r >= 12) row[(r * 13 + 5) % cols] = specials[(r + 2) % specials.length]!;
      }
      const indices = (be: CpuBackend) => Float32Array.from(be.readSync(be.argmax(view(be, x, [rows, cols]), 1)) as Int32Array);
      againstJs(`argmax ${cols}`, indices, 0, "argmax_rows");
      // and a slice of rows (a stride between them), as the logits of a prompt's last position are
      const sliced = (be: CpuBackend) =>
        Float32Array.from(be.readSync(be.argmax(view(be, x, [rows / 2, cols], [2 * cols, 1], cols), 1)) as Int32Array);
      againstJs(`argmax ${cols} strided rows`, sliced, 0, "argmax_rows");
    });
  }
});

describe("resident strided copies (copy_words)", () => {
  // the element at each index of a view, read by its strides: what every copy must give, bit for bit
  const expected = (data: Float32Array | Int32Array, shape: number[], strides: number[], offset: number): number[] => {
    const out: number[] = [];
    const walk = (d: number, at: number): void => {
      if (d === shape.length) out.push(data[at]!);
      else for (let i = 0; i < shape[d]!; i++) walk(d + 1, at + i * strides[d]!);
    };
    walk(0, offset);
    return out;
  };
  const x = randomF32(4 * 6 * 5 * 9, 11);
  x[3] = Number.NaN; // a NaN's bits move unchanged
  // [name, shape, strides, offset, whether it coalesces to three levels or fewer (the kernel's)]
  const layouts: [string, number[], number[], number, boolean][] = [
    ["heads merged (the first two axes of [6, 5, 9] swapped)", [5, 6, 9], [9, 45, 1], 0, true],
    ["a transposed matrix (no contiguous run)", [30, 36], [1, 30], 0, true],
    ["a slice of rows with an offset", [3, 6, 5, 9], [270, 45, 9, 1], 270, true],
    ["a broadcast (stride 0) row", [64, 9], [0, 1], 18, true],
    ["flipped rows (a negative stride)", [20, 54], [-54, 1], 19 * 54, true],
    ["four levels (the JS copy)", [4, 6, 5, 9], [270, 9, 54, 1], 0, false],
  ];
  for (const [name, shape, strides, offset, resident] of layouts) {
    it(name, () => {
      const want = expected(x, shape, strides, offset);
      for (const be of backends) {
        const view: StridedView = { buffer: be.upload(x, "float32"), shape, strides, offset };
        const trace = traced(() => {
          const got = be.readSync(be.copy(view)) as Float32Array;
          expect(Array.from(new Uint32Array(got.buffer, got.byteOffset, got.length))).toEqual(
            Array.from(new Uint32Array(Float32Array.from(want).buffer)),
          );
        });
        expect(trace.calls.has("copy_words"), name).toBe(resident);
      }
    });
  }
  it("writes into a strided destination (a KV cache's positions), int32 too", () => {
    for (const be of backends) {
      // [heads 3, positions 40 of 64 room, dim 24]: positions [10, 30) written from a contiguous [3, 20, 24]
      const room = new Float32Array(3 * 64 * 24).fill(-1);
      const dst: StridedView = { buffer: be.upload(room, "float32"), shape: [3, 20, 24], strides: [64 * 24, 24, 1], offset: 10 * 24 };
      const src = randomF32(3 * 20 * 24, 12);
      be.writeInto(dst, { buffer: be.upload(src, "float32"), shape: [3, 20, 24], strides: [480, 24, 1], offset: 0 });
      const got = be.readSync(dst.buffer) as Float32Array;
      for (let h = 0; h < 3; h++)
        for (let p = 0; p < 64; p++)
          for (let d = 0; d < 24; d++) {
            const inside = p >= 10 && p < 30;
            expect(got[h * 64 * 24 + p * 24 + d]).toBe(inside ? src[h * 480 + (p - 10) * 24 + d] : -1);
          }
      const ints = Int32Array.from({ length: 200 }, (_, i) => i * 7 - 300);
      const iv: StridedView = { buffer: be.upload(ints, "int32"), shape: [10, 20], strides: [1, 10], offset: 0 };
      expect(Array.from(be.readSync(be.copy(iv)) as Int32Array)).toEqual(expected(ints, [10, 20], [1, 10], 0));
    }
  });
});

describe("resident elementwise kernels", () => {
  const [rows, cols] = [7, 37];
  const a = randomF32(rows * cols, 1);
  const bFull = randomF32(rows * cols, 2).map((v) => v + 3); // away from 0, for div
  const bRow = randomF32(cols, 3).map((v) => v + 3);
  const bCol = randomF32(rows, 4).map((v) => v + 3);
  const layouts = {
    "same shape": (be: CpuBackend) => view(be, bFull, [rows, cols]),
    "a row broadcast over rows": (be: CpuBackend) => view(be, bRow, [rows, cols], [0, 1]),
    "one value per row": (be: CpuBackend) => view(be, bCol, [rows, cols], [1, 0]),
    "a scalar": (be: CpuBackend) => view(be, bRow, [rows, cols], [0, 0], 5),
  };
  for (const op of ["add", "sub", "mul", "div"] as const) {
    it(`${op}: every broadcast layout, either side where it commutes`, () => {
      for (const [name, other] of Object.entries(layouts)) {
        againstJs(`${op}, b ${name}`, (be) => read(be, be.binary(op, view(be, a, [rows, cols]), other(be))), 0, `binary_${op}`);
        if (op === "add" || op === "mul") {
          againstJs(`${op}, a ${name}`, (be) => read(be, be.binary(op, other(be), view(be, a, [rows, cols]))), 0, `binary_${op}`);
        }
      }
    });
  }
  it("GELU (tanh) and SiLU, of lengths that do not fill the last vector", () => {
    for (const n of [1, 5, 33, 1001]) {
      const x = randomF32(n, n, 12);
      for (const op of ["gelu_tanh", "silu"] as const)
        againstJs(`${op} of ${n}`, (be) => read(be, be.unary(op, view(be, x, [n]))), 3e-6, op);
    }
  });
});

describe("resident training kernels", () => {
  const [rows, cols] = [13, 37];
  const x = randomF32(rows * cols, 71, 4);
  const g = randomF32(rows * cols, 72, 2);
  const w = randomF32(cols, 73, 2);
  const xv = (be: CpuBackend, data = x) => view(be, data, [rows, cols]);

  it("GELU (tanh) and SiLU backward", () => {
    for (const op of ["gelu_tanh", "silu"] as const) {
      againstJs(op, (be) => read(be, be.fused!.activationGrad!(op, xv(be), xv(be, g))), 5e-6, `${op}_grad`);
    }
  });

  it("sums over the leading axes (a bias's gradient) and over the last axis, in float64", () => {
    againstJs("sum over rows", (be) => read(be, be.reduce("sum", view(be, x, [rows, 1, cols], [cols, cols, 1]), [0, 1])), 1e-6, "col_sums");
    againstJs("sum over the last axis", (be) => read(be, be.reduce("sum", xv(be), [1])), 1e-6, "row_sums");
  });

  it("scatterAdd of rows (an embedding's gradient), repeated and negative indices", () => {
    const idx = Int32Array.from({ length: rows }, (_, i) => [3, -1, 0, 3, 5, 2, 3][i % 7]!);
    againstJs(
      "scatterAdd",
      (be) => read(be, be.scatterAdd(xv(be), { buffer: be.upload(idx, "int32"), shape: [rows], strides: [1], offset: 0 }, 0, [6, cols])),
      1e-6,
      "scatter_rows",
    );
  });

  it("logSoftmax and its backward", () => {
    const masked = x.slice();
    masked.fill(-Infinity, 0, cols);
    againstJs("logSoftmax", (be) => read(be, be.fused!.logSoftmax!(xv(be, x))), 2e-6, "max_exp_sum");
    const y = read(plain, plain.fused!.logSoftmax!(xv(plain, x)));
    againstJs("logSoftmaxGrad", (be) => read(be, be.fused!.logSoftmaxGrad!(xv(be, y), xv(be, g))), 2e-6, "row_sums");
  });

  it("layerNorm and rmsNorm backward, with and without a weight and bias", () => {
    for (const withW of [true, false]) {
      for (const withBias of [true, false]) {
        const grads = (be: CpuBackend) => {
          const r = be.fused!.layerNormGrad!(xv(be), withW ? view(be, w, [cols]) : null, xv(be, g), 1e-5, withBias);
          return Float32Array.from([...read(be, r.dx), ...(r.dweight ? read(be, r.dweight) : []), ...(r.dbias ? read(be, r.dbias) : [])]);
        };
        againstJs(`layerNormGrad w ${withW} b ${withBias}`, grads, 2e-5, "norm_grad_rows");
      }
      const rms = (be: CpuBackend) => {
        const r = be.fused!.rmsNormGrad!(xv(be), withW ? view(be, w, [cols]) : null, xv(be, g), 1e-6);
        return Float32Array.from([...read(be, r.dx), ...(r.dweight ? read(be, r.dweight) : [])]);
      };
      againstJs(`rmsNormGrad w ${withW}`, rms, 2e-5, "norm_grad_rows");
    }
  });

  it("AdamW: the same bits as the JS kernel (torch's rounding), first step and later, with and without decay", () => {
    const n = 1001;
    const p = randomF32(n, 81);
    const grad = randomF32(n, 82);
    const m = randomF32(n, 83, 0.1);
    const v = randomF32(n, 84, 0.1).map(Math.abs);
    for (const weightDecay of [0, 0.1]) {
      for (const first of [true, false]) {
        const h = { lr: 1e-3, weightDecay, beta1: 0.9, beta2: 0.95, eps: 1e-8, step: first ? 1 : 7 };
        const step = (be: CpuBackend) => {
          const r = be.fused!.adamwStep!(
            view(be, p, [n]),
            view(be, grad, [n]),
            first ? null : view(be, m, [n]),
            first ? null : view(be, v, [n]),
            h,
          );
          return Float32Array.from([...read(be, r.param), ...read(be, r.expAvg), ...read(be, r.expAvgSq)]);
        };
        againstJs(`adamw decay ${weightDecay} first ${first}`, step, 0, "adamw");
      }
    }
  });
});

describe("CpuBackend.ready()", () => {
  it("compiles the kernels without blocking and starts the workers; the backend then runs resident", async () => {
    const be = new CpuBackend({ threads: 2, minWorkPerThread: 0 });
    await be.ready();
    expect(be.threads).toBe(2);
    const x = randomF32(64 * 64, 9);
    const trace = traced(() => {
      const y = read(be, be.matmul(view(be, x, [64, 64]), view(be, x, [64, 64])));
      expect(y.length).toBe(64 * 64);
    });
    expect([...trace.calls.keys()]).toEqual(["gemm"]);
    be.close();
  });
});

describe("kernel modules compiled on first use", () => {
  it("a backend compiles a module when one of its kernels first runs, and hands it to workers already running", () => {
    const be = new CpuBackend({ threads: 2, minWorkPerThread: 0, relaxedSimd: false });
    const x = randomF32(64 * 64, 12);
    const product = () => read(be, be.matmul(view(be, x, [64, 64]), view(be, x, [64, 64])));
    const first = traced(product); // starts the workers with the modules compiled so far
    expect([...first.calls.keys()]).toEqual(["gemm"]);
    expect(be.compiledModules).toEqual(["matvec", "gemm"]); // matvec: the probe that SIMD compiles
    expect(first.workerParts).toBeGreaterThan(0);
    // binary's module compiles now, after the workers started: they take it before their part
    const n = 64 * 64;
    const added = traced(() => {
      const y = read(be, be.binary("add", view(be, x, [n]), view(be, x, [n])));
      expect(y).toEqual(Float32Array.from(x, (v) => v + v));
    });
    expect(be.compiledModules).toContain("binary");
    expect(added.workerParts).toBeGreaterThan(0);
    expect(product()).toEqual(read(backends[0]!, backends[0]!.matmul(view(backends[0]!, x, [64, 64]), view(backends[0]!, x, [64, 64]))));
    be.close();
  });
});

describe("CpuBackend spinMs (how long idle workers poll before they sleep)", () => {
  it("workers that sleep at once (0) still take parts, and every product has the same bits as with the default", async () => {
    const sleepy = new CpuBackend({ threads: 2, spinMs: 0, relaxedSimd: false });
    await sleepy.ready();
    // parts long enough (a 512 x 512 x 512 GEMM: ~10 ms a thread) that a worker woken from sleep starts its own
    const x = randomF32(512 * 512, 11);
    const trace = traced(() => {
      const y = read(sleepy, sleepy.matmul(view(sleepy, x, [512, 512]), view(sleepy, x, [512, 512])));
      expect(y).toEqual(read(backends[1]!, backends[1]!.matmul(view(backends[1]!, x, [512, 512]), view(backends[1]!, x, [512, 512]))));
    });
    expect(trace.workerParts).toBeGreaterThan(0);
    sleepy.close();
  });

  it("rejects a negative or non-finite spinMs, naming it", () => {
    expect(() => new CpuBackend({ spinMs: -1 })).toThrow(/spinMs must be a non-negative number of milliseconds, found -1/);
    expect(() => new CpuBackend({ spinMs: Number.NaN })).toThrow(/spinMs .* found NaN/);
  });
});
