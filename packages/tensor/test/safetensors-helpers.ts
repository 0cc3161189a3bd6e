// Helpers shared by the safetensors tests. Deliberately independent of src/safetensors: they read
// files with DataView and JSON.parse only, so a bug in the parser cannot hide itself.
import { readdirSync, statSync } from "node:fs";

export const MODELS_DIR = new URL("../../../fixtures/models/", import.meta.url);

export function modelNames(): string[] {
  return readdirSync(MODELS_DIR).filter((name) => statSync(new URL(name, MODELS_DIR)).isDirectory());
}

export interface HandHeader {
  headerLength: number;
  header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
}

export function readHeaderByHand(bytes: Uint8Array): HandHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  return { headerLength, header };
}

/** Element i of a tensor, read straight from the file bytes at 8 + headerLength + begin. */
export function elementByHand(bytes: Uint8Array, headerLength: number, dtype: string, begin: number, i: number): number {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = 8 + headerLength + begin;
  switch (dtype) {
    case "F32":
      return view.getFloat32(at + 4 * i, true);
    case "I32":
      return view.getInt32(at + 4 * i, true);
    default:
      throw new Error(`elementByHand: no reader for ${dtype}`);
  }
}

/** A file from a header (object or raw text) and data bytes, with no padding or validation. */
export function rawFile(header: unknown, data: ArrayLike<number> = [], headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** The same bytes at an odd byte offset of a larger buffer, to defeat typed-array alignment. */
export function atOddOffset(bytes: Uint8Array): Uint8Array {
  const buffer = new Uint8Array(bytes.length + 1);
  buffer.set(bytes, 1);
  return buffer.subarray(1);
}

/** Same length and bytes (fast for large typed arrays, where deep equality is slow). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const view = (x: ArrayBufferView) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  return a.constructor === b.constructor && view(a).equals(view(b));
}
