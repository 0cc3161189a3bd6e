import { afterEach, describe, expect, test } from "vitest";
import {
  adamwStep,
  ArgumentError,
  checkIndexRange,
  CpuBackend,
  cpuBackend,
  getBackend,
  lazyZeros,
  setBackend,
  settleDeferredChecks,
  ShapeError,
  tensor,
  withBackend,
  type Backend,
  type BackendBuffer,
} from "../src/index.js";

/** The CPU backend with its allocations counted, and readSync hidden when asked (as WebGPU lacks it). */
class CountingBackend extends CpuBackend {
  fills = 0;
  uploads = 0;
  override fill(size: number, value: number, dtype: Parameters<CpuBackend["fill"]>[2]): BackendBuffer {
    this.fills++;
    return super.fill(size, value, dtype);
  }
  override upload(...args: Parameters<CpuBackend["upload"]>): BackendBuffer {
    this.uploads++;
    return super.upload(...args);
  }
}

function asyncOnly(backend: CpuBackend): Backend {
  // the same kernels without synchronous reads, so checks must be deferred (what WebGPU sees)
  return new Proxy(backend, {
    get(obj, prop) {
      if (prop === "readSync") return undefined;
      const value = Reflect.get(obj, prop, obj) as unknown;
      return typeof value === "function" ? value.bind(obj) : value;
    },
  });
}

afterEach(() => setBackend(cpuBackend));

describe("lazyZeros", () => {
  test("allocates nothing until first read, then reads as zeros", () => {
    const backend = new CountingBackend();
    const t = lazyZeros([3, 4], { backend });
    expect(backend.fills).toBe(0);
    expect(t.storage.isAllocated).toBe(false);
    expect(Array.from(t.dataSync())).toEqual(new Array(12).fill(0));
    expect(backend.fills).toBe(1);
    t.dispose();
  });
});

describe("Tensor.adopt", () => {
  test("moves a whole contiguous buffer into a lazy parameter without a copy", () => {
    const backend = new CountingBackend();
    const param = lazyZeros([2, 2], { backend }).requireGrad();
    const value = tensor([1, 2, 3, 4], { shape: [2, 2], backend });
    const buffer = value.storage.buffer;
    param.adopt(value);
    expect(value.isDisposed).toBe(true);
    expect(param.storage.buffer).toBe(buffer); // the same buffer, not a copy
    expect(backend.fills).toBe(0); // the placeholder's zeros never existed
    expect(Array.from(param.dataSync())).toEqual([1, 2, 3, 4]);
    expect(param.requiresGrad).toBe(true);
  });

  test("copies when the value shares its storage, is a view, or has another dtype", () => {
    const shared = tensor([1, 2, 3, 4]);
    const view = shared.reshape(2, 2);
    const param = lazyZeros([2, 2]);
    param.adopt(view);
    expect(view.isDisposed).toBe(true);
    expect(shared.isDisposed).toBe(false); // still the caller's
    expect(param.storage).not.toBe(shared.storage);
    expect(Array.from(shared.dataSync())).toEqual([1, 2, 3, 4]);

    const halves = tensor([1, 2, 3, 4], { shape: [2, 2] }).cast("float16");
    const widened = lazyZeros([2, 2]);
    widened.adopt(halves);
    expect(widened.dtype).toBe("float32");
    expect(Array.from(widened.dataSync())).toEqual([1, 2, 3, 4]);

    const transposed = tensor([1, 2, 3, 4], { shape: [2, 2] }).transpose(0, 1);
    const fromView = lazyZeros([2, 2]);
    fromView.adopt(transposed);
    expect(Array.from(fromView.dataSync())).toEqual([1, 3, 2, 4]);
  });

  test("refuses another shape or another backend, naming both", () => {
    expect(() => lazyZeros([2, 2]).adopt(tensor([1, 2, 3]))).toThrow(ShapeError);
    expect(() => lazyZeros([2, 2]).adopt(tensor([1, 2, 3]))).toThrow(/expected a tensor of shape \[2,2\], got \[3\]/);
    const other = new CpuBackend();
    expect(() => lazyZeros([1], { backend: other }).adopt(tensor([1]))).toThrow(
      /adopt: the value lives on the cpu backend, this tensor on cpu/,
    );
  });

  test("the CPU backend adopts an array from allocateHost as it is", () => {
    const data = cpuBackend.allocateHost("float32", 2) as Float32Array;
    data.set([5, 6]);
    const buffer = cpuBackend.adopt(data, "float32");
    expect(cpuBackend.readSync(buffer)).toEqual(new Float32Array([5, 6]));
    data[0] = 7; // shared: the backend kept the array itself
    expect(cpuBackend.readSync(buffer)[0]).toBe(7);
    // bools are normalised to 0/1, so they are copied
    const bools = new Uint8Array([0, 2]);
    expect(Array.from(cpuBackend.readSync(cpuBackend.adopt(bools, "bool")))).toEqual([0, 1]);
  });

  test("the CPU backend copies a plain array into its WebAssembly memory, and keeps it as it is without WASM", () => {
    const data = new Float32Array([5, 6]);
    const buffer = cpuBackend.adopt(data, "float32");
    data[0] = 7; // copied: the kernels read the backend's memory
    expect(Array.from(cpuBackend.readSync(buffer))).toEqual([5, 6]);
    const plain = new CpuBackend({ wasm: false });
    const kept = plain.adopt(data, "float32");
    data[1] = 8;
    expect(Array.from(plain.readSync(kept))).toEqual([7, 8]);
  });
});

describe("withBackend", () => {
  test("makes new tensors on the given backend and restores the default, also after a throw", () => {
    const other = new CpuBackend();
    const t = withBackend(other, () => tensor([1]));
    expect(t.backend).toBe(other);
    expect(getBackend()).toBe(cpuBackend);
    expect(() =>
      withBackend(other, () => {
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(getBackend()).toBe(cpuBackend);
  });
});

describe("checkIndexRange", () => {
  test("throws at once, naming the value, where the backend reads synchronously", () => {
    const ids = tensor([[0, 3, 9]], { dtype: "int32" });
    expect(() => checkIndexRange(ids, 10, (v) => `id ${v} is outside [0, 10)`)).not.toThrow();
    expect(() => checkIndexRange(ids, 9, (v) => `id ${v} is outside [0, 9)`)).toThrow(ArgumentError);
    expect(() => checkIndexRange(ids, 9, (v) => `id ${v} is outside [0, 9)`)).toThrow("id 9 is outside [0, 9)");
    expect(() => checkIndexRange(tensor([2, -1], { dtype: "int32" }), 9, (v) => `id ${v}`)).toThrow("id -1");
    expect(() => checkIndexRange(tensor([1.5]), 9, (v) => `id ${v}`)).toThrow(/expected int32 ids, found float32/);
  });

  test("on a backend without synchronous reads, the next read of any tensor throws it", async () => {
    const backend = asyncOnly(new CpuBackend());
    const ids = tensor([4, 12], { dtype: "int32", backend });
    checkIndexRange(ids, 10, (v) => `position ${v} is past the 10 the table holds`);
    const other = tensor([1, 2], { backend });
    await expect(other.data()).rejects.toThrow("position 12 is past the 10 the table holds");
    // settled: the error is reported once, and reads work again
    expect(Array.from(await other.data())).toEqual([1, 2]);
    checkIndexRange(tensor([0, 9], { dtype: "int32", backend }), 10, () => "never");
    await expect(settleDeferredChecks()).resolves.toBeUndefined();
  });
});

describe("adamwStep", () => {
  test("the composed ops equal the CPU backend's fused kernel bit for bit, over three steps", () => {
    const composed = new CpuBackend();
    (composed as { fused: CpuBackend["fused"] }).fused = { ...cpuBackend.fused, adamwStep: undefined };
    const run = (backend: Backend) => {
      let p = tensor([0.5, -1.25, 2, 3e-3], { backend });
      let m = null;
      let v = null;
      for (let step = 1; step <= 3; step++) {
        const g = tensor([0.1 * step, -0.2, 0.3, -0.4 / step], { backend });
        const r = adamwStep(p, g, m, v, { lr: 1e-2, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, eps: 1e-8, step });
        [p, m, v] = [r.param, r.expAvg, r.expAvgSq];
      }
      return [p, m!, v!].map((t) => Array.from(t.dataSync()));
    };
    expect(cpuBackend.fused?.adamwStep).toBeDefined();
    expect(run(composed)).toEqual(run(cpuBackend));
  });

  test("names a mismatched moment, a missing one, and a bad step", () => {
    const p = tensor([1, 2]);
    const h = { lr: 1, weightDecay: 0, beta1: 0.9, beta2: 0.9, eps: 1e-8, step: 1 };
    expect(() => adamwStep(p, tensor([1, 2, 3]), null, null, h)).toThrow(/grad must have the parameter's shape \[2\], found \[3\]/);
    expect(() => adamwStep(p, p, p, null, h)).toThrow(/expAvg and expAvgSq must both be given or both be null/);
    expect(() => adamwStep(p, p, null, null, { ...h, step: 0 })).toThrow(/step must be an integer >= 1, found 0/);
  });
});
