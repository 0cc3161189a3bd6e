import { SafetensorsError } from "./errors.js";

/** Typed arrays alias host memory, which must be little-endian like the format. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function assertLittleEndianHost(): void {
  if (!LITTLE_ENDIAN) {
    throw new SafetensorsError("argument", {}, "expected a little-endian host, found a big-endian one");
  }
}

/** Any typed array or ArrayBuffer as a Uint8Array over the same memory (no copy). */
export function asBytes(data: ArrayBufferView | ArrayBufferLike): Uint8Array {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}
