import { describe, expect, it } from "vitest";
import { CpuBuffer } from "../src/cpu/buffer.js";
import { cpuBackend } from "../src/cpu/backend.js";
import { allocUninit, allocZeroed, recycle } from "../src/cpu/pool.js";

// Sizes above the pool's threshold; odd ones so other tests' arrays are not picked up.
const N = 40_961;

describe("cpu buffer pool", () => {
  it("hands a disposed buffer's array out again, zeroed when asked", () => {
    const a = allocUninit("float32", N);
    a.fill(7);
    new CpuBuffer(a, "float32").dispose();
    const b = allocZeroed("float32", N);
    expect(b).toBe(a);
    expect(b.every((v) => v === 0)).toBe(true);
  });

  it("releaseMemory drops the idle arrays", () => {
    const a = allocUninit("float32", N + 8);
    new CpuBuffer(a, "float32").dispose();
    expect(cpuBackend.pooledBytes).toBeGreaterThanOrEqual(a.byteLength);
    cpuBackend.releaseMemory();
    expect(cpuBackend.pooledBytes).toBe(0);
    expect(allocUninit("float32", N + 8)).not.toBe(a);
  });

  it("never takes back an array it did not hand out, nor one twice", () => {
    const foreign = new Float32Array(N + 2);
    recycle(foreign, "float32");
    expect(allocUninit("float32", N + 2)).not.toBe(foreign);
    const a = allocUninit("float32", N + 4);
    recycle(a, "float32");
    recycle(a, "float32");
    expect(allocUninit("float32", N + 4)).toBe(a);
    expect(allocUninit("float32", N + 4)).not.toBe(a);
  });

  it("keeps results intact across reuse through the backend", () => {
    const view = (buffer: CpuBuffer | ReturnType<typeof cpuBackend.fill>) => ({ buffer, shape: [N + 6], strides: [1], offset: 0 });
    const x = cpuBackend.fill(N + 6, 2, "float32");
    const y = cpuBackend.binary("mul", view(x), view(x));
    cpuBackend.dispose(y);
    const z = cpuBackend.fill(N + 6, 0, "float32"); // reuses y's array: must come back zeroed
    expect(cpuBackend.readSync(z).every((v) => v === 0)).toBe(true);
    const w = cpuBackend.binary("add", view(x), view(z));
    expect(cpuBackend.readSync(w).every((v) => v === 2)).toBe(true);
    expect(() => cpuBackend.readSync(y)).toThrow(/after dispose/);
  });
});
