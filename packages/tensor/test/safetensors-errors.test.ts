import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { TensorError } from "../src/errors.js";
import {
  parseSafetensors,
  SafetensorsError,
  serializeSafetensors,
  safetensorsEntryToHost,
  type SafetensorsErrorCode,
} from "../src/safetensors/index.js";
import { MODELS_DIR, rawFile } from "./safetensors-helpers.js";

const SOURCE = "bad.safetensors";

/** Runs fn, expecting a SafetensorsError with this code whose message matches every pattern. */
function expectError(fn: () => unknown, code: SafetensorsErrorCode, ...patterns: RegExp[]): SafetensorsError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  expect(caught).toBeInstanceOf(TensorError);
  const error = caught as SafetensorsError;
  expect(error.name).toBe("SafetensorsError");
  expect(error.code, error.message).toBe(code);
  for (const pattern of patterns) expect(error.message).toMatch(pattern);
  return error;
}

const parse = (bytes: Uint8Array) => () => parseSafetensors(bytes, { source: SOURCE });
const f32 = (begin: number, end: number, shape: number[] = [(end - begin) / 4]) => ({
  dtype: "F32",
  shape,
  data_offsets: [begin, end],
});

describe("parseSafetensors rejects bad files", () => {
  it("shorter than the 8-byte length prefix", () => {
    expectError(parse(new Uint8Array(5)), "truncated", /^safetensors: bad\.safetensors: /, /expected at least 8 bytes/, /found 5/);
  });

  it("shorter than its header says (a truncated download)", () => {
    const whole = new Uint8Array(readFileSync(new URL("gpt2/model.safetensors", MODELS_DIR)));
    expectError(parse(whole.subarray(0, 100)), "header-length", /header length 2624/, /at least 2632 bytes/, /found 100/);
  });

  it("a header length past the end of the file, and an absurd one", () => {
    expectError(parse(rawFile({}, [], 1000)), "header-length", /header length 1000/, /found 10/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    expectError(parse(huge), "header-length", /expected a header length <= 100000000 bytes, found 9223372036854775808/);
  });

  it("data cut short: names the last tensor and where the data ends", () => {
    const whole = new Uint8Array(readFileSync(new URL("gpt2/reference.safetensors", MODELS_DIR)));
    expectError(
      parse(whole.subarray(0, whole.length - 3)),
      "offsets",
      /tensor "input_ids"/,
      /run past the end of the data/,
      /expected end <= 65705/,
      /found 65708/,
    );
  });

  it("invalid JSON, invalid UTF-8, a header that is not an object", () => {
    expectError(parse(rawFile('{"a": {"dtype": ')), "header-json", /bad\.safetensors/, /expected a JSON object header, found invalid JSON/);
    const badUtf8 = rawFile("{}");
    badUtf8[9] = 0xff;
    expectError(parse(badUtf8), "header-json", /found invalid UTF-8/);
    expectError(parse(rawFile("[1,2]")), "header-json", /expected a JSON object header, found \[1,2\]/);
  });

  it("overlapping offsets", () => {
    const file = rawFile({ a: f32(0, 8), b: f32(4, 12) }, new Uint8Array(12));
    expectError(parse(file), "offsets", /tensor "b"/, /overlaps the previous tensor/, /expected it to begin at 8, found 4/);
  });

  it("a hole between tensors, and a hole at the start", () => {
    expectError(
      parse(rawFile({ a: f32(0, 4), b: f32(8, 12) }, new Uint8Array(12))),
      "offsets",
      /tensor "b"/,
      /leaves a hole/,
      /begin at 4, found 8/,
    );
    expectError(parse(rawFile({ a: f32(4, 8) }, new Uint8Array(8))), "offsets", /tensor "a"/, /begin at 0, found 4/);
  });

  it("offsets past the end, and data left over after the last tensor", () => {
    expectError(parse(rawFile({ a: f32(0, 16) }, new Uint8Array(8))), "offsets", /tensor "a"/, /expected end <= 8/, /found 16/);
    expectError(parse(rawFile({ a: f32(0, 4) }, new Uint8Array(8))), "offsets", /bad\.safetensors/, /4 trailing bytes/);
  });

  it("data_offsets that do not hold shape x dtype bytes", () => {
    const file = rawFile({ w: { dtype: "F16", shape: [2, 3], data_offsets: [0, 8] } }, new Uint8Array(8));
    expectError(parse(file), "size-mismatch", /tensor "w"/, /hold 8 bytes/, /expected 12 for shape \[2,3\] x F16/);
  });

  it("malformed data_offsets", () => {
    for (const offsets of [[0], [4, 0], [-1, 3], [0, "4"], null]) {
      expectError(
        parse(rawFile({ w: { dtype: "U8", shape: [4], data_offsets: offsets } }, new Uint8Array(4))),
        "offsets",
        /tensor "w"/,
        /expected data_offsets to be \[begin, end\]/,
      );
    }
  });

  it("an unknown dtype", () => {
    const file = rawFile({ w: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16));
    expectError(parse(file), "unknown-dtype", /tensor "w"/, /expected a safetensors dtype/, /found "F128"/);
  });

  it("non-integer, negative and non-numeric shapes", () => {
    for (const [shape, found] of [
      [[1.5], /\[1\.5\]/],
      [[-1, 4], /\[-1,4\]/],
      [["2"], /\["2"\]/],
      [3, /found 3/],
    ] as const) {
      const file = rawFile({ w: { dtype: "U8", shape, data_offsets: [0, 0] } });
      expectError(parse(file), "shape", /tensor "w"/, /expected shape to be an array of non-negative integers/, found);
    }
  });

  it("a tensor entry or __metadata__ of the wrong kind", () => {
    expectError(parse(rawFile({ w: [1, 2] })), "header-entry", /tensor "w"/, /expected \{dtype, shape, data_offsets\}/);
    expectError(
      parse(rawFile({ __metadata__: { n: 1 } })),
      "header-entry",
      /tensor "__metadata__"/,
      /expected string values, found 1 at "n"/,
    );
    expectError(parse(rawFile({ __metadata__: ["pt"] })), "header-entry", /expected an object of strings, found \["pt"\]/);
    // null is accepted as "no metadata", as the Rust reader does.
    expect(parseSafetensors(rawFile({ __metadata__: null })).metadata).toBeNull();
  });
});

describe("host conversions reject values that do not fit", () => {
  /** A one-tensor file "x" holding a typed array's elements under a safetensors dtype. */
  const one = (dtype: string, data: ArrayBufferView & { length: number }) => {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return parseSafetensors(rawFile({ x: { dtype, shape: [data.length], data_offsets: [0, bytes.length] } }, bytes)).tensors.get("x")!;
  };
  const context = { source: SOURCE, key: "x" };

  it("I64 and U64 beyond int32", () => {
    expectError(
      () => safetensorsEntryToHost(one("I64", BigInt64Array.of(1n, -(2n ** 31n) - 1n)), context),
      "value-range",
      /bad\.safetensors: tensor "x": I64 -> int32/,
      /found -2147483649 at element 1/,
    );
    expectError(
      () => safetensorsEntryToHost(one("I64", BigInt64Array.of(2n ** 31n)), context),
      "value-range",
      /found 2147483648 at element 0/,
    );
    expectError(
      () => safetensorsEntryToHost(one("U64", BigUint64Array.of(2n ** 63n)), context),
      "value-range",
      /U64 -> int32/,
      /found 9223372036854775808/,
    );
    expectError(
      () => safetensorsEntryToHost(one("U32", Uint32Array.of(2 ** 31)), context),
      "value-range",
      /U32 -> int32/,
      /found 2147483648/,
    );
  });

  it("F64 beyond float32's range (rounding is fine, overflow is not)", () => {
    expect(safetensorsEntryToHost(one("F64", Float64Array.of(0.1, Infinity, NaN))).data).toEqual(Float32Array.of(0.1, Infinity, NaN));
    expectError(
      () => safetensorsEntryToHost(one("F64", Float64Array.of(0, -1e300)), context),
      "value-range",
      /F64 -> float32/,
      /found -1e\+300 at element 1/,
    );
  });

  it("dtypes with no host type", () => {
    expectError(() => safetensorsEntryToHost(one("F8_E4M3", new Uint8Array(8)), context), "conversion", /tensor "x"/, /found F8_E4M3/);
  });
});

describe("serializeSafetensors rejects bad tensors", () => {
  it("data of the wrong size or element width", () => {
    expectError(
      () => serializeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
      "size-mismatch",
      /tensor "w"/,
      /expected 16 bytes for shape \[2,2\] x F32, found 12/,
    );
    expectError(
      () => serializeSafetensors({ w: { dtype: "F16", shape: [2], data: new Float32Array(1) } }),
      "argument",
      /tensor "w"/,
      /2-byte elements for F16/,
      /found Float32Array/,
    );
  });

  it("unknown dtypes, bad shapes, the reserved name, non-string metadata", () => {
    expectError(
      () => serializeSafetensors({ w: { dtype: "F128" as never, shape: [1], bytes: new Uint8Array(16) } }),
      "unknown-dtype",
      /found "F128"/,
    );
    expectError(() => serializeSafetensors({ w: { dtype: "U8", shape: [-1], bytes: new Uint8Array(0) } }), "shape", /found \[-1\]/);
    expectError(
      () => serializeSafetensors({ __metadata__: { dtype: "U8", shape: [0], bytes: new Uint8Array(0) } }),
      "argument",
      /reserved key "__metadata__"/,
    );
    expectError(() => serializeSafetensors({}, { step: 3 as never }), "argument", /expected string values, found number at "step"/);
  });
});
