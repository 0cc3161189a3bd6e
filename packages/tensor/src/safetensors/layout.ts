import { elementCount, isSafetensorsDType, safetensorsDTypeSize, type SafetensorsDType } from "./dtypes.js";
import { SafetensorsError, type SafetensorsErrorContext } from "./errors.js";
import { previewJson } from "../preview.js";

/** Where one tensor's bytes are: offsets relative to the start of the data (after the header). */
export interface SafetensorsLayoutEntry {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated header: what a reader needs to find every tensor in a file of known length. */
export interface SafetensorsLayout {
  /** Byte offset of the data in the file: 8 + the header length. */
  readonly dataStart: number;
  /** The `__metadata__` string map, or null when the header has none. */
  readonly metadata: Readonly<Record<string, string>> | null;
  /** Tensors in data order (by offset). */
  readonly tensors: ReadonlyMap<string, SafetensorsLayoutEntry>;
}

export interface SafetensorsParseOptions {
  /** Named in error messages, e.g. the file path. */
  source?: string;
}

/** The Rust crate refuses larger headers; so do we, before decoding a bogus length. */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/**
 * The header length from a file's first 8 bytes, checked against the file's length. Lets a reader
 * that does not hold the whole file know how much to read for the header.
 */
export function readSafetensorsHeaderLength(prefix: Uint8Array, fileLength: number, options: SafetensorsParseOptions = {}): number {
  const file: SafetensorsErrorContext = { source: options.source };
  if (fileLength < 8 || prefix.length < 8) {
    throw new SafetensorsError(
      "truncated",
      file,
      `expected at least 8 bytes (the header length), found ${Math.min(fileLength, prefix.length)}`,
    );
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(SAFETENSORS_MAX_HEADER_BYTES)) {
    throw new SafetensorsError("header-length", file, `expected a header length <= ${SAFETENSORS_MAX_HEADER_BYTES} bytes, found ${length}`);
  }
  const n = Number(length);
  if (8 + n > fileLength) {
    throw new SafetensorsError(
      "header-length",
      file,
      `header length ${n} runs past the end of the file: expected a file of at least ${8 + n} bytes, found ${fileLength}`,
    );
  }
  return n;
}

/**
 * Parses and validates the header held in `prefix` (at least its first 8 + header length bytes) of
 * a file of `fileLength` bytes: known dtypes, sane shapes, offsets that match shape x dtype and
 * tile the data exactly (no overlap, no hole, nothing past the end or left over).
 */
export function parseSafetensorsLayout(prefix: Uint8Array, fileLength: number, options: SafetensorsParseOptions = {}): SafetensorsLayout {
  const file: SafetensorsErrorContext = { source: options.source };
  const headerLength = readSafetensorsHeaderLength(prefix, fileLength, options);
  if (prefix.length < 8 + headerLength) {
    throw new SafetensorsError(
      "truncated",
      file,
      `expected the first ${8 + headerLength} bytes (length and header), found ${prefix.length}`,
    );
  }
  const header = decodeHeader(prefix.subarray(8, 8 + headerLength), file);
  const dataStart = 8 + headerLength;
  const dataLength = fileLength - dataStart;

  let metadata: Record<string, string> | null = null;
  const infos: (SafetensorsLayoutEntry & { name: string })[] = [];
  for (const [name, value] of Object.entries(header)) {
    // A null __metadata__ means none, as in the Rust reader (where it is an Option).
    if (name === "__metadata__") metadata = value === null ? null : readMetadata(value, file);
    else infos.push({ name, ...readTensorInfo(value, { ...file, key: name }) });
  }

  // Data must be tiled exactly, in any header order: sort by offsets, then walk without gaps.
  infos.sort((a, b) => a.begin - b.begin || a.end - b.end);
  const tensors = new Map<string, SafetensorsLayoutEntry>();
  let expectedBegin = 0;
  for (const { name, ...info } of infos) {
    const context = { ...file, key: name };
    if (info.begin !== expectedBegin) {
      const what = info.begin < expectedBegin ? "overlaps the previous tensor" : "leaves a hole after the previous tensor";
      throw new SafetensorsError(
        "offsets",
        context,
        `data_offsets [${info.begin},${info.end}] ${what}: expected it to begin at ${expectedBegin}, found ${info.begin}`,
      );
    }
    if (info.end > dataLength) {
      throw new SafetensorsError(
        "offsets",
        context,
        `data_offsets [${info.begin},${info.end}] run past the end of the data: expected end <= ${dataLength} (file is ${fileLength} bytes, data starts at ${dataStart}), found ${info.end}`,
      );
    }
    tensors.set(name, info);
    expectedBegin = info.end;
  }
  if (expectedBegin !== dataLength) {
    throw new SafetensorsError(
      "offsets",
      file,
      `expected the tensors to cover the ${dataLength} data bytes after the header, found ${dataLength - expectedBegin} trailing bytes not covered by any tensor`,
    );
  }
  return { dataStart, metadata, tensors };
}

function decodeHeader(headerBytes: Uint8Array, file: SafetensorsErrorContext): Record<string, unknown> {
  let text: string;
  try {
    // ignoreBOM keeps a BOM in the text so JSON.parse rejects it, as the Rust reader does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(headerBytes);
  } catch {
    throw new SafetensorsError("header-json", file, "expected a UTF-8 JSON header, found invalid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SafetensorsError("header-json", file, `expected a JSON object header, found invalid JSON (${reason}): ${preview(text)}`);
  }
  if (!isPlainObject(header)) {
    throw new SafetensorsError("header-json", file, `expected a JSON object header, found ${describe(header)}`);
  }
  return header;
}

function readMetadata(value: unknown, file: SafetensorsErrorContext): Record<string, string> {
  const context = { ...file, key: "__metadata__" };
  if (!isPlainObject(value)) {
    throw new SafetensorsError("header-entry", context, `expected an object of strings, found ${describe(value)}`);
  }
  for (const [name, item] of Object.entries(value)) {
    if (typeof item !== "string") {
      throw new SafetensorsError("header-entry", context, `expected string values, found ${describe(item)} at "${name}"`);
    }
  }
  return value as Record<string, string>;
}

function readTensorInfo(
  value: unknown,
  context: SafetensorsErrorContext,
): { dtype: SafetensorsDType; shape: number[]; begin: number; end: number } {
  if (!isPlainObject(value)) {
    throw new SafetensorsError("header-entry", context, `expected {dtype, shape, data_offsets}, found ${describe(value)}`);
  }
  const { dtype, shape, data_offsets: offsets } = value;
  if (!isSafetensorsDType(dtype)) {
    throw new SafetensorsError(
      "unknown-dtype",
      context,
      `expected a safetensors dtype (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, ...), found ${describe(dtype)}`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
    throw new SafetensorsError("shape", context, `expected shape to be an array of non-negative integers, found ${describe(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) || offsets[0] > offsets[1]) {
    throw new SafetensorsError(
      "offsets",
      context,
      `expected data_offsets to be [begin, end] with 0 <= begin <= end, found ${describe(offsets)}`,
    );
  }
  const [begin, end] = offsets as [number, number];
  const size = safetensorsDTypeSize(dtype);
  const expectedBytes = elementCount(shape, context) * size;
  if (end - begin !== expectedBytes) {
    throw new SafetensorsError(
      "size-mismatch",
      context,
      `data_offsets [${begin},${end}] hold ${end - begin} bytes: expected ${expectedBytes} for shape [${shape.join(",")}] x ${dtype} (${size} byte${size === 1 ? "" : "s"} each)`,
    );
  }
  return { dtype, shape: shape as number[], begin, end };
}

function isNonNegativeInteger(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** A short preview (a header nested thousands deep overflowed JSON.stringify here). */
function describe(x: unknown): string {
  return previewJson(x);
}

function preview(text: string): string {
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
