import { GGML_TYPE_NAMES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUFError } from "./types.js";

/** A tensor as the GGUF header describes it (dims innermost first, as ggml's ne). */
export interface GGUFTensorEntry {
  readonly name: string;
  /** ggml's ne: ne[0] is the row length (innermost). */
  readonly dims: readonly number[];
  readonly ggmlType: number;
  /** Byte offset from the start of the tensor data. */
  readonly offset: number;
}

export interface GGUFHeader {
  readonly version: number;
  /** Metadata values as plain JS values (numbers, strings, booleans, arrays of them). */
  readonly metadata: ReadonlyMap<string, unknown>;
  readonly tensors: readonly GGUFTensorEntry[];
  readonly alignment: number;
  /** Byte offset of the tensor data in the file. */
  readonly dataStart: number;
}

/** Thrown when the bytes end before the header does: the caller reads more and tries again. */
export class NeedMoreBytes extends Error {}

const decoder = new TextDecoder("utf-8", { fatal: true });

/** Parses a GGUF header (versions 2 and 3) from the file's first bytes; `source` names it in errors. */
export function parseGGUFHeader(bytes: Uint8Array, source: string): GGUFHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number): void => {
    if (at + n > bytes.byteLength) throw new NeedMoreBytes();
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(at, true);
    at += 4;
    return v;
  };
  const u64 = (what: string): number => {
    need(8);
    const v = view.getBigUint64(at, true);
    at += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new GGUFError(`${source}: ${what}: expected a size below 2^53, found ${v}`);
    return Number(v);
  };
  const str = (what: string): string => {
    const n = u64(`${what} length`);
    need(n);
    try {
      return decoder.decode(bytes.subarray(at, (at += n)));
    } catch {
      throw new GGUFError(`${source}: ${what}: expected UTF-8 text, found invalid bytes`);
    }
  };
  const scalar = (type: number, key: string): unknown => {
    switch (type) {
      case 0:
        need(1);
        return view.getUint8(at++);
      case 1:
        need(1);
        return view.getInt8(at++);
      case 2:
        need(2);
        return view.getUint16((at += 2) - 2, true);
      case 3:
        need(2);
        return view.getInt16((at += 2) - 2, true);
      case 4:
        return u32();
      case 5:
        need(4);
        return view.getInt32((at += 4) - 4, true);
      case 6:
        need(4);
        return shortestFloat32(view.getFloat32((at += 4) - 4, true));
      case 7:
        need(1);
        return view.getUint8(at++) !== 0;
      case 8:
        return str(`metadata "${key}"`);
      case 10:
        return u64(`metadata "${key}"`);
      case 11: {
        need(8);
        const v = view.getBigInt64((at += 8) - 8, true);
        return Number(v);
      }
      case 12:
        need(8);
        return view.getFloat64((at += 8) - 8, true);
      default:
        throw new GGUFError(`${source}: metadata "${key}": unknown value type ${type}`);
    }
  };
  need(8);
  const magic = u32();
  if (magic !== GGUF_MAGIC)
    throw new GGUFError(
      `${source}: expected a GGUF file (magic "GGUF"), found ${JSON.stringify(String.fromCharCode(...bytes.subarray(0, 4)))}`,
    );
  const version = u32();
  if (version !== 2 && version !== 3) throw new GGUFError(`${source}: expected GGUF version 2 or 3, found ${version}`);
  const tensorCount = u64("tensor count");
  const kvCount = u64("metadata count");
  const metadata = new Map<string, unknown>();
  for (let i = 0; i < kvCount; i++) {
    const key = str("metadata key");
    const type = u32();
    if (type === 9) {
      const itemType = u32();
      const n = u64(`metadata "${key}" length`);
      const items: unknown[] = new Array(n);
      for (let j = 0; j < n; j++) items[j] = itemType === 9 ? nestedArray(key) : scalar(itemType, key);
      metadata.set(key, items);
    } else {
      metadata.set(key, scalar(type, key));
    }
  }
  function nestedArray(key: string): unknown[] {
    const itemType = u32();
    const n = u64(`metadata "${key}" length`);
    const items: unknown[] = new Array(n);
    for (let j = 0; j < n; j++) items[j] = scalar(itemType, key);
    return items;
  }
  const tensors: GGUFTensorEntry[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = str("tensor name");
    const nDims = u32();
    if (nDims > 4) throw new GGUFError(`${source}: tensor "${name}": expected at most 4 dims, found ${nDims}`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(u64(`tensor "${name}" dim`));
    const ggmlType = u32();
    if (GGML_TYPE_NAMES[ggmlType] === undefined) throw new GGUFError(`${source}: tensor "${name}": unknown ggml type ${ggmlType}`);
    tensors.push({ name, dims, ggmlType, offset: u64(`tensor "${name}" offset`) });
  }
  const alignment = Number(metadata.get("general.alignment") ?? GGUF_DEFAULT_ALIGNMENT);
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw new GGUFError(`${source}: general.alignment: expected a positive multiple of 8, found ${alignment}`);
  }
  const dataStart = Math.ceil(at / alignment) * alignment;
  return { version, metadata, tensors, alignment, dataStart };
}

/**
 * The shortest decimal that is this float32 (1e-5 for the float32 nearest 1e-5): a config value
 * written as float32 (an epsilon, a rope base) reads back as the number it was written from.
 */
export function shortestFloat32(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  for (let p = 1; p <= 9; p++) {
    const candidate = Number(x.toPrecision(p));
    if (Math.fround(candidate) === x) return candidate;
  }
  return x;
}
