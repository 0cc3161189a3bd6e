import { readFileSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import type { Backend, BackendBuffer } from "../src/backend.js";
import { cpuBackend } from "../src/cpu/backend.js";
import type { DType, HostArray } from "../src/dtype.js";
import { setBackend } from "../src/engine.js";
import { tensor } from "../src/ops/creation.js";
import { loadSafetensors, parseSafetensors, saveSafetensors, SafetensorsError, safetensorsEntryToHost } from "../src/safetensors/index.js";
import { MODELS_DIR, modelNames, rawFile, sameBytes } from "./safetensors-helpers.js";

beforeAll(() => setBackend(cpuBackend));

describe("loadSafetensors / saveSafetensors", () => {
  for (const model of modelNames()) {
    for (const file of ["model.safetensors", "reference.safetensors"]) {
      it(`${model}/${file}: tensors with the file's values, saved back byte for byte`, async () => {
        const bytes = new Uint8Array(readFileSync(new URL(`${model}/${file}`, MODELS_DIR)));
        const parsed = parseSafetensors(bytes);
        const tensors = loadSafetensors(bytes);
        expect(Object.keys(tensors).sort()).toEqual([...parsed.tensors.keys()].sort());
        for (const [name, entry] of parsed.tensors) {
          const host = safetensorsEntryToHost(entry);
          expect(tensors[name]!.shape).toEqual(entry.shape);
          expect(tensors[name]!.dtype).toBe(host.dtype);
          expect(sameBytes(await tensors[name]!.data(), host.data), name).toBe(true);
        }
        const saved = await saveSafetensors(tensors, parsed.metadata);
        expect(Buffer.from(saved).equals(Buffer.from(bytes))).toBe(true);
      });
    }
  }

  it("keeps halves 16-bit by default and widens them to float32 on request", async () => {
    const bits = Uint16Array.of(0x3c00, 0xc000, 0x3555);
    const file = await saveSafetensors({
      h: tensor(bits, { dtype: "float16" }),
      b: tensor(Uint16Array.of(0x3f80, 0x4040), { dtype: "bfloat16" }),
      m: tensor(Uint8Array.of(1, 0, 1), { dtype: "bool", shape: [3] }),
      i: tensor(Int32Array.of(-1, 2), { shape: [2, 1] }),
      s: tensor([2.5], { shape: [] }),
    });
    const dtypes = [...parseSafetensors(file).tensors].map(([name, e]) => `${name}:${e.dtype}`);
    expect(dtypes).toEqual(["s:F32", "i:I32", "b:BF16", "h:F16", "m:BOOL"]);

    const kept = loadSafetensors(file);
    expect(kept.h!.dtype).toBe("float16");
    expect(await kept.h!.data()).toEqual(bits);
    expect(kept.b!.dtype).toBe("bfloat16");
    expect(kept.m!.dtype).toBe("bool");
    expect(await kept.m!.data()).toEqual(Uint8Array.of(1, 0, 1));
    expect(kept.i!.shape).toEqual([2, 1]);
    expect(kept.s!.shape).toEqual([]);

    const wide = loadSafetensors(file, { dtype: "float32" });
    expect(wide.h!.dtype).toBe("float32");
    expect(await wide.h!.data()).toEqual(Float32Array.of(1, -2, 0.333251953125));
    expect(await wide.b!.data()).toEqual(Float32Array.of(1, 3));
    expect(wide.i!.dtype).toBe("int32");
    expect(wide.m!.dtype).toBe("bool");

    // Saved halves come back as the same bits: the round trip is lossless.
    expect(await saveSafetensors(kept)).toEqual(file);
  });

  it("names the file and tensor when an I64 value does not fit int32, and frees what it made", () => {
    const big = new Uint8Array(new BigInt64Array([2n ** 40n]).buffer);
    const file = rawFile(
      {
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
        big: { dtype: "I64", shape: [1], data_offsets: [4, 12] },
      },
      [0, 0, 0, 0, ...big],
    );
    // The cpu backend, counting the buffers it holds.
    let live = 0;
    const counting: Backend = Object.create(cpuBackend, {
      upload: {
        value: (data: HostArray, dtype: DType) => {
          live++;
          return cpuBackend.upload(data, dtype);
        },
      },
      dispose: {
        value: (buffer: BackendBuffer) => {
          live--;
          cpuBackend.dispose(buffer);
        },
      },
    });
    const load = () => loadSafetensors(file, { source: "ids.safetensors", backend: counting });
    expect(load).toThrow(SafetensorsError);
    expect(live).toBe(0);
    expect(load).toThrow(
      /ids\.safetensors: tensor "big": I64 -> int32: expected values in \[-2147483648, 2147483647\], found 1099511627776 at element 0/,
    );
  });
});
