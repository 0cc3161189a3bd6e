import { describe, expect, it } from "vitest";
import type { DType, HostArray } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "../src/half.js";
import { sizeClass } from "../src/buffer-pool.js";
import { createWebGPUBackend } from "../src/index.js";

reportSkip();

describe("size classes", () => {
  it("round up by at most a quarter and stay 4-byte aligned", () => {
    for (const bytes of [1, 255, 256, 257, 1000, 1024, 1025, 4096 * 4096 * 4 + 4]) {
      const c = sizeClass(bytes);
      expect(c).toBeGreaterThanOrEqual(bytes);
      expect(c % 4).toBe(0);
      if (bytes > 1024) expect(c).toBeLessThanOrEqual(bytes * 1.25);
    }
  });
});

describe.skipIf(!backend)("webgpu memory", () => {
  const b = backend!;

  const cases: [DType, HostArray, number[]][] = [
    ["float32", new Float32Array([1.5, -2, 0, -0, Infinity, NaN]), [1.5, -2, 0, -0, Infinity, NaN]],
    ["int32", new Int32Array([0, -1, 2147483647, -2147483648]), [0, -1, 2147483647, -2147483648]],
    ["bool", new Uint8Array([0, 1, 7, 0]), [0, 1, 1, 0]],
    ["float16", new Uint16Array([0x3c00, 0x8001, 0x7c00, 0xffff]), [0x3c00, 0x8001, 0x7c00, 0xffff]],
    ["bfloat16", new Uint16Array([0x3f80, 0x0001, 0xff80]), [0x3f80, 0x0001, 0xff80]],
    ["int32", new Float32Array([1.9, -1.9, NaN]), [1, -1, 0]],
    ["float16", new Float32Array([1, 65504, 65520, 1e-8]), [0x3c00, 0x7bff, 0x7c00, 0]],
  ];
  it.each(cases)("uploads and reads %s bit-exactly (host arrays converted like the CPU backend)", async (dtype, data, expected) => {
    const buf = b.upload(data, dtype);
    const out = await b.read(buf);
    expect(out.constructor.name).toBe(
      (
        { float32: "Float32Array", int32: "Int32Array", bool: "Uint8Array", float16: "Uint16Array", bfloat16: "Uint16Array" } as Record<
          string,
          string
        >
      )[dtype],
    );
    expect(Array.from(out)).toEqual(expected);
    b.dispose(buf);
  });

  it("fills every dtype, including values whose bits are not zero", async () => {
    expect(Array.from(await b.read(b.fill(3, -0.5, "float32")))).toEqual([-0.5, -0.5, -0.5]);
    expect(Array.from(await b.read(b.fill(2, 0, "float32")))).toEqual([0, 0]);
    expect(Array.from(await b.read(b.fill(2, -7, "int32")))).toEqual([-7, -7]);
    expect(Array.from(await b.read(b.fill(2, 3, "bool")))).toEqual([1, 1]);
    expect(Array.from(await b.read(b.fill(1, 1, "float16")))).toEqual([0x3c00]);
    expect(Array.from(await b.read(b.fill(1, -Infinity, "bfloat16")))).toEqual([0xff80]);
    expect((await b.read(b.fill(0, 1, "float32"))).length).toBe(0);
  });

  it("rounds halves to nearest even on the host", () => {
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(float32ToFloat16Bits(2 ** -24)).toBe(1); // smallest subnormal
    expect(float32ToFloat16Bits(3 * 2 ** -26)).toBe(1); // 0.75 ulp rounds up
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(float32ToBfloat16Bits(NaN)).toBe(0x7fc0);
  });

  it("dispose returns buffers to the pool: after a warm-up, a loop of alloc + free creates no buffers and leaks none", async () => {
    const start = b.stats();
    const x = b.upload(new Float32Array(1000).fill(1), "float32");
    const view = { buffer: x, shape: [1000], strides: [1], offset: 0 };
    const loop = async () => {
      for (let step = 0; step < 30; step++) {
        const y = b.unary("exp", view);
        const z = b.binary("add", { ...view, buffer: y }, view);
        b.dispose(y);
        if (step % 10 === 9) await b.read(z);
        b.dispose(z);
      }
    };
    await loop();
    const warm = b.stats().storage.created;
    await loop();
    expect(b.stats().storage.created).toBe(warm);
    b.dispose(x);
    expect(b.stats().liveBuffers).toBe(start.liveBuffers);
  });

  it("batches kernels: many ops, one submit per read", async () => {
    const x = b.upload(new Float32Array([1, 2, 3]), "float32");
    await b.read(x);
    const before = b.stats().submits;
    let cur = x;
    for (let i = 0; i < 20; i++) {
      const next = b.unary("neg", { buffer: cur, shape: [3], strides: [1], offset: 0 });
      if (cur !== x) b.dispose(cur);
      cur = next;
    }
    expect(Array.from(await b.read(cur))).toEqual([1, 2, 3]);
    expect(b.stats().submits - before).toBe(1);
    b.dispose(cur);
    b.dispose(x);
  });

  it("refuses a tensor larger than the device's largest storage binding, saying so", () => {
    const max = b.device.limits.maxStorageBufferBindingSize;
    const live = b.stats().liveBuffers;
    expect(() => b.fill(max / 4 + 1, 0, "float32")).toThrow(
      /needs \d+ bytes \(4 per element\), more than this device's largest storage binding/,
    );
    expect(b.stats().liveBuffers).toBe(live);
  });

  it("runs on a device the caller owns, and leaves it alive on destroy()", async () => {
    const { create } = (await import("webgpu")) as unknown as { create(flags: string[]): GPU };
    const adapter = (await create([]).requestAdapter())!;
    const device = await adapter.requestDevice();
    const own = await createWebGPUBackend({ device });
    expect(own.device).toBe(device);
    const x = own.upload(new Float32Array([1, 4, 9]), "float32");
    expect(Array.from(await own.read(own.unary("sqrt", { buffer: x, shape: [3], strides: [1], offset: 0 })))).toEqual([1, 2, 3]);
    expect(() => b.dispose(x)).toThrow(/a buffer of another WebGPU backend/);
    let lost = false;
    void device.lost.then(() => (lost = true));
    own.destroy();
    await device.queue.onSubmittedWorkDone();
    expect(lost, "the caller's device was destroyed by the backend").toBe(false);
    device.destroy();
    await device.lost;
    expect(lost).toBe(true);
  });

  it("rejects disposed and foreign buffers with a message naming the problem", () => {
    const x = b.upload(new Float32Array([1]), "float32");
    b.dispose(x);
    expect(() => b.copy({ buffer: x, shape: [1], strides: [1], offset: 0 })).toThrow(/used after dispose/);
    expect(() => b.dispose({ size: 1, dtype: "float32" })).toThrow(/expected a buffer made by this backend, found a Object/);
  });
});
