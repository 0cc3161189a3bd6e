import type { StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import { viewData } from "../buffer.js";
import type { Arena } from "../memory/arena.js";
import type { WasmHeap } from "../memory/heap.js";

/**
 * Operands of a resident kernel: byte addresses in one memory (the kernel's home). An operand in
 * another memory (a model spread over several) or outside the heap is copied into scratch there;
 * `done` copies scratch outputs back and frees the scratch.
 */
/**
 * A block-quantized weight W [N, K] (the [K, N] view b: K stride 1, rows K apart) as rows of
 * `elements`-value blocks of `bytes` in the heap: its memory, its first row's address, blocks and
 * bytes a row. Null where the layout is another or W is not in the heap.
 */
export function blockRows(
  heap: WasmHeap,
  b: StridedView,
  N: number,
  K: number,
  elements: number,
  bytes: number,
): { home: Arena; w: number; nb: number; rowBytes: number } | null {
  const r = b.shape.length;
  if (b.strides[r - 2] !== 1 || (N > 1 && b.strides[r - 1] !== K) || K % elements !== 0 || b.offset % elements !== 0) return null;
  const data = viewData(b);
  const home = heap.locate(data);
  if (home === null) return null;
  const nb = K / elements;
  return { home, w: data.byteOffset + (b.offset / elements) * bytes, nb, rowBytes: nb * bytes };
}

export class Operands {
  private readonly temps: HostArray[] = [];
  private readonly copyBack: (() => void)[] = [];

  constructor(
    readonly heap: WasmHeap,
    readonly home: Arena,
  ) {}

  /**
   * The address of `data[offset]` for a kernel reading `length` contiguous floats from there
   * (`stride` apart in data: gathered into scratch); null when scratch cannot be had (the caller
   * takes its JS path).
   */
  input(data: Float32Array, offset: number, length: number, stride = 1): number | null {
    if (stride === 1 && this.heap.locate(data) === this.home) return data.byteOffset + offset * 4;
    const temp = this.scratch(length);
    if (temp === null) return null;
    if (stride === 1) temp.set(data.subarray(offset, offset + length));
    else for (let i = 0; i < length; i++) temp[i] = data[offset + i * stride]!;
    return temp.byteOffset;
  }

  /** The address for a kernel writing `length` floats that belong at `data[offset]`. */
  output(data: Float32Array, offset: number, length: number): number | null {
    if (this.heap.locate(data) === this.home) return data.byteOffset + offset * 4;
    const temp = this.scratch(length);
    if (temp === null) return null;
    this.copyBack.push(() => data.set(temp.subarray(0, length), offset));
    return temp.byteOffset;
  }

  /**
   * The byte address of a strided view's first element in the home memory, for a kernel that
   * reads it with its own strides (non-negative): the view's buffer where it is home, else the
   * range of it the view spans, copied into scratch there. Null when scratch cannot be had.
   */
  view(x: StridedView): number | null {
    const data = viewData(x);
    const bytes = data.BYTES_PER_ELEMENT;
    if (this.heap.locate(data) === this.home) return data.byteOffset + x.offset * bytes;
    let span = 1;
    x.shape.forEach((d, i) => {
      span += (d - 1) * x.strides[i]!;
    });
    const temp = this.heap.scratchIn(this.home, x.buffer.dtype, span);
    if (temp === null) return null;
    this.temps.push(temp);
    temp.set(data.subarray(x.offset, x.offset + span) as never);
    return temp.byteOffset;
  }

  /** The address of a copy of `bytes` in scratch of the home memory (a lattice type's table, say); null when scratch cannot be had. */
  bytes(bytes: Uint8Array): number | null {
    const temp = this.scratch(Math.ceil(bytes.length / 4));
    if (temp === null) return null;
    new Uint8Array(temp.buffer, temp.byteOffset, bytes.length).set(bytes);
    return temp.byteOffset;
  }

  /** Scratch floats in the home memory, freed by done(). */
  scratch(length: number): Float32Array | null {
    const temp = this.heap.scratchIn(this.home, "float32", length) as Float32Array | null;
    if (temp !== null) this.temps.push(temp);
    return temp;
  }

  /**
   * A new float32 array of `length` for the kernel's result, and the address the kernel writes:
   * the array itself where the home memory has room for it, else an array elsewhere (scratch in
   * the home memory copied over by done()). Null when neither can be had.
   */
  result(length: number): { array: Float32Array; addr: number } | null {
    const array = this.heap.allocIn(this.home, "float32", length) as Float32Array | null;
    if (array !== null) return { array, addr: array.byteOffset };
    const elsewhere = this.heap.alloc("float32", length, false) as Float32Array | null;
    if (elsewhere === null) return null;
    const addr = this.output(elsewhere, 0, length);
    if (addr === null) {
      this.heap.free(elsewhere);
      return null;
    }
    return { array: elsewhere, addr };
  }

  /** How much scratch is taken now, for releaseTo. */
  mark(): number {
    return this.temps.length;
  }

  /** Frees the scratch taken since `mark` (a plan that did not fit). */
  releaseTo(mark: number): void {
    while (this.temps.length > mark) this.heap.freeScratch(this.home, this.temps.pop()!);
  }

  /**
   * Kernel arguments for parts that each need scratch of their own: `split(count)`'s ranges for
   * count from `parts` down, the first count whose every range gets its `floatsFor` floats (the same
   * results: only the split changes); `argsFor` builds a part's arguments. Null where not even one
   * part fits.
   */
  partsWithScratch(
    parts: number,
    split: (count: number) => [number, number][],
    floatsFor: (n0: number, n1: number) => number,
    argsFor: (n0: number, n1: number, scratch: Float32Array) => number[],
  ): number[][] | null {
    const mark = this.mark();
    for (let count = parts; count >= 1; count--) {
      const ranges = split(count);
      const args: number[][] = [];
      for (const [n0, n1] of ranges) {
        const scratch = this.scratch(floatsFor(n0, n1));
        if (scratch === null) break;
        args.push(argsFor(n0, n1, scratch));
      }
      if (args.length === ranges.length) return args;
      this.releaseTo(mark);
    }
    return null;
  }

  /** Copies scratch outputs to where they belong (when `ok`) and frees all scratch. */
  done(ok = true): void {
    if (ok) for (const c of this.copyBack) c();
    for (const t of this.temps) this.heap.freeScratch(this.home, t);
    this.temps.length = 0;
    this.copyBack.length = 0;
  }
}
