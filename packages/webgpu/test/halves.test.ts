/**
 * float16 and bfloat16 packed two to a 32-bit word on the GPU (storage.ts): half the bytes, and
 * every kernel that reads or writes a half element at an odd index (the word's high half) or next
 * to another thread's element gives the bits the CPU backend gives, with the neighbours intact.
 */
import { describe, expect, it } from "vitest";
import {
  concat,
  cpuBackend,
  Rng,
  tensor,
  where,
  writeInto,
  zeros,
  type Backend,
  type BackendBuffer,
  type StridedView,
  type Tensor,
} from "@llm/tensor";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "../src/half.js";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

const HALVES = ["float16", "bfloat16"] as const;

/** The float32 value of half bits `h`. */
function widen(dtype: "float16" | "bfloat16", h: number): number {
  if (dtype === "bfloat16") return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
  const e = (h >> 10) & 31;
  const m = h & 1023;
  const v = e === 0 ? m * 2 ** -24 : e === 31 ? (m ? NaN : Infinity) : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

function values(n: number, seed: number): number[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => rng.normal() * 3);
}

/** The bits of a half tensor, as a plain array (Uint16Array from either backend). */
async function bits(t: Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

describe.skipIf(!backend)("webgpu packed halves", () => {
  const b = backend!;

  it("take two bytes an element: an odd count rounds up to whole words", () => {
    for (const dtype of HALVES) {
      const before = b.stats().allocatedBytes;
      const t = tensor(values(1001, 1), { backend: b }).cast(dtype);
      expect(b.stats().allocatedBytes - before).toBe(2004 + 4004); // the half tensor and its float32 source
      t.dispose();
    }
    const before = b.stats().allocatedBytes;
    const h = b.upload(new Uint16Array(7).fill(0x3c00), "float16");
    expect(b.stats().allocatedBytes - before).toBe(16);
    b.dispose(h);
  });

  for (const dtype of HALVES) {
    /** The same op on both backends: the GPU's bits must be the CPU's. */
    const same = async (op: (on: Backend) => Tensor): Promise<void> => {
      expect(await bits(op(b))).toEqual(Array.from(op(cpuBackend).dataSync()));
    };

    it(`${dtype}: casts, copies, concatenations and where keep each element's bits at odd indices`, async () => {
      const x = (on: Backend) => tensor(values(15, 2), { shape: [3, 5], backend: on }).cast(dtype);
      await same((on) => x(on));
      await same((on) => x(on).transpose(0, 1).contiguous()); // odd source and destination indices interleave
      await same((on) => x(on).slice(1, 1, 4).contiguous());
      await same((on) => concat([x(on), x(on).slice(1, 0, 3)], 1));
      await same((on) => {
        const cond = tensor([1, 0, 1, 1, 0], { backend: on }).cast("bool");
        return where(cond, x(on), x(on).cast("float32").neg().cast(dtype));
      });
      await same((on) => x(on).cast("float32").mul(2).cast(dtype));
    });

    it(`${dtype}: takes rows and writes into odd offsets without touching the neighbours`, async () => {
      const table = (on: Backend) => tensor(values(21, 3), { shape: [7, 3], backend: on }).cast(dtype);
      await same((on) => table(on).take(tensor([6, 0, 3, 3, 5], { dtype: "int32", backend: on }), 0));
      const written = async (on: Backend): Promise<number[]> => {
        const dst = zeros([3, 5], { backend: on }).add(0.25).cast(dtype);
        writeInto(dst.slice(1, 1, 4).slice(0, 1, 3), tensor(values(6, 4), { shape: [2, 3], backend: on }));
        return Array.from(await dst.data());
      };
      expect(await written(b)).toEqual(await written(cpuBackend));
    });

    it(`${dtype}: reductions, norms and matmuls of halves (Backend calls) store each float32 result rounded to its half`, async () => {
      // the Tensor layer computes in float32; a Backend user may hand the kernels halves: each loads
      // the same values as a float32 copy would and rounds its float32 result once on the store
      const [rows, cols] = [5, 7];
      const halfBits = Uint16Array.from(values(rows * cols, 5), dtype === "float16" ? float32ToFloat16Bits : float32ToBfloat16Bits);
      const widened = Float32Array.from(halfBits, (h) => widen(dtype, h));
      const view = (buffer: BackendBuffer, shape = [rows, cols]) => ({ buffer, shape, strides: [shape[1]!, 1], offset: 0 });
      const h = view(b.upload(halfBits, dtype));
      const f = view(b.upload(widened, "float32"));
      const rounded = async (buffer: BackendBuffer) =>
        Array.from(await b.read(buffer), (v) => (dtype === "float16" ? float32ToFloat16Bits(v) : float32ToBfloat16Bits(v)));
      const ops: ((x: StridedView) => BackendBuffer)[] = [
        (x) => b.reduce("sum", x, [1]),
        (x) => b.reduce("max", x, [0]),
        (x) => b.cumsum(x, 1),
        (x) => b.fused!.softmax!(x),
        (x) => b.fused!.rmsNorm!(x, null, 1e-5),
        (x) => b.matmul(x, { ...x, shape: [cols, rows], strides: [1, cols] }),
      ];
      for (const op of ops) expect(Array.from(await b.read(op(h)))).toEqual(await rounded(op(f)));
    });

    it(`${dtype}: weights read as stored, rows and columns of odd length`, async () => {
      const w = (on: Backend) => tensor(values(9 * 7, 6), { shape: [9, 7], backend: on }).cast(dtype);
      const a = (on: Backend) => tensor(values(3 * 9, 7), { shape: [3, 9], backend: on });
      const got = await a(b).matmul(w(b)).data();
      const want = a(b).matmul(w(b).cast("float32"));
      expect(Array.from(got)).toEqual(Array.from(await want.data()));
      // the transposed weight (a Linear's [out, in] layout), one row at a time: the GEMV
      const gemv = await a(b).slice(0, 0, 1).matmul(w(b).transpose(0, 1).contiguous().transpose(0, 1)).data();
      expect(Array.from(gemv)).toEqual(Array.from(await a(b).slice(0, 0, 1).matmul(w(b).cast("float32")).data()));
    });
  }
});
