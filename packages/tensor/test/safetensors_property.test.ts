import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  CheckpointFileError,
  checkpointFilesFromBytes,
  openCheckpoint,
  parseSafetensors,
  SAFETENSORS_DTYPES,
  safetensorsDTypeSize,
  SafetensorsError,
  serializeSafetensors,
  TensorError,
  type SafetensorsDType,
  type SafetensorsRawTensor,
} from "../src/index.js";
import { outcome, report, SEED, tally } from "../../../tests/support/fuzz.js";

// Property tests of the safetensors reader: every file we write reads back exactly, and every
// mutation of one (bytes flipped, cut, inserted; the header replaced by other JSON) ends in a
// parsed file whose tensors tile the data, or in a SafetensorsError: never a raw TypeError or
// RangeError, never a hang.

/** Little dtypes the files people ship use, and a few they rarely do. */
const dtype = fc.constantFrom<SafetensorsDType>("F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "U32", "U16");

const tensorArb = fc.tuple(dtype, fc.array(fc.integer({ min: 0, max: 4 }), { minLength: 0, maxLength: 3 })).chain(([d, shape]) => {
  const n = shape.reduce((a, b) => a * b, 1) * safetensorsDTypeSize(d);
  return fc.uint8Array({ minLength: n, maxLength: n }).map((bytes): SafetensorsRawTensor => ({ dtype: d, shape, bytes }));
});

const fileArb = fc.tuple(
  fc.dictionary(
    fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== "__metadata__"),
    tensorArb,
    { maxKeys: 4 },
  ),
  fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 3 }), { nil: null }),
);

/** Ways to break a file: byte edits, and headers replaced by other JSON (valid or not). */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), bytes: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ kind: fc.constant("length" as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
  fc.record({ kind: fc.constant("header" as const), json: fc.json({ depthSize: "medium" }) }),
  fc.record({
    kind: fc.constant("entry" as const),
    json: fc.oneof(
      fc.jsonValue(),
      fc.record({
        dtype: fc.oneof(fc.constantFrom(...SAFETENSORS_DTYPES, "F4", "f32", ""), fc.jsonValue()),
        shape: fc.oneof(fc.array(fc.oneof(fc.nat(), fc.integer(), fc.double())), fc.jsonValue()),
        data_offsets: fc.oneof(fc.tuple(fc.nat(), fc.nat()), fc.array(fc.oneof(fc.integer(), fc.double())), fc.jsonValue()),
      }),
    ),
  }),
);

function mutate(file: Uint8Array, m: fc.Arbitrary<unknown> extends never ? never : Parameters<typeof applyMutation>[1]): Uint8Array {
  return applyMutation(file, m);
}

function applyMutation(
  file: Uint8Array,
  m:
    | { kind: "flip"; at: number; value: number }
    | { kind: "cut"; at: number }
    | { kind: "insert"; at: number; bytes: Uint8Array }
    | { kind: "length"; value: bigint }
    | { kind: "header"; json: string }
    | { kind: "entry"; json: unknown },
): Uint8Array {
  const out = Uint8Array.from(file);
  switch (m.kind) {
    case "flip":
      if (out.length) out[m.at % out.length] = m.value;
      return out;
    case "cut":
      return out.subarray(0, m.at % (out.length + 1));
    case "insert": {
      const at = m.at % (out.length + 1);
      return Uint8Array.from([...out.subarray(0, at), ...m.bytes, ...out.subarray(at)]);
    }
    case "length":
      if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, m.value, true);
      return out;
    case "header":
      return withHeader(new TextEncoder().encode(m.json), out);
    case "entry":
      return withHeader(new TextEncoder().encode(JSON.stringify({ x: m.json })), out);
  }
}

/** The file with its header replaced (the data after it kept). */
function withHeader(header: Uint8Array, file: Uint8Array): Uint8Array {
  const oldLength = file.length >= 8 ? Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true)) : 0;
  const data = file.subarray(Math.min(file.length, 8 + oldLength));
  const out = new Uint8Array(8 + header.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(header.length), true);
  out.set(header, 8);
  out.set(data, 8 + header.length);
  return out;
}

/** A parsed file is consistent: each tensor's bytes match its shape and dtype and lie inside the file. */
function checkParsed(file: Uint8Array): void {
  const parsed = parseSafetensors(file);
  let total = 0;
  for (const [, { dtype: d, shape, bytes }] of parsed.tensors) {
    expect(bytes.byteLength).toBe(shape.reduce((a, b) => a * b, 1) * safetensorsDTypeSize(d));
    total += bytes.byteLength;
  }
  const headerLength = Number(new DataView(file.buffer, file.byteOffset).getBigUint64(0, true));
  expect(total).toBe(file.length - 8 - headerLength);
}

describe("safetensors reader, property-based (fast-check)", () => {
  it("every file we write parses back to the same tensors and metadata", async () => {
    const t = tally("safetensors-roundtrip");
    await fc.assert(
      fc.asyncProperty(fileArb, ([tensors, metadata]) =>
        outcome(t, [], () => {
          const parsed = parseSafetensors(serializeSafetensors(tensors, metadata));
          expect(parsed.metadata).toEqual(metadata);
          expect([...parsed.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
          for (const [name, entry] of parsed.tensors) {
            const original = tensors[name]!;
            expect(entry.dtype).toBe(original.dtype);
            expect(entry.shape).toEqual(original.shape);
            expect(entry.bytes).toEqual((original as { bytes: Uint8Array }).bytes);
          }
        }),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    expect(t.results).toBe(t.inputs);
  });

  it("every mutated file parses consistently or throws a SafetensorsError", async () => {
    const t = tally("safetensors-mutated");
    await fc.assert(
      fc.asyncProperty(fileArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), ([tensors, metadata], mutations) =>
        outcome(t, [SafetensorsError], () => {
          let file = serializeSafetensors(tensors, metadata);
          for (const m of mutations) file = mutate(file, m as never);
          checkParsed(file);
        }),
      ),
      { seed: SEED, numRuns: 4000 },
    );
    report(t, SEED);
    expect(t.errors.SafetensorsError).toBeGreaterThan(1000);
  });

  it("a mutated checkpoint folder opens and reads, or throws one of our errors", async () => {
    const t = tally("checkpoint-mutated");
    await fc.assert(
      fc.asyncProperty(
        fileArb,
        fc.array(mutation, { maxLength: 2 }),
        fc.oneof(fc.constant("{}"), fc.json({ depthSize: "small" }), fc.string()),
        async ([tensors, metadata], mutations, config) =>
          outcome(t, [TensorError, CheckpointFileError], async () => {
            let file = serializeSafetensors(tensors, metadata);
            for (const m of mutations) file = mutate(file, m as never);
            const checkpoint = await openCheckpoint(checkpointFilesFromBytes({ "config.json": config, "model.safetensors": file }));
            const read = await checkpoint.readAll({ dtype: "float32", checkFinite: true });
            for (const x of Object.values(read)) x.dispose();
          }),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(0);
  });
});
