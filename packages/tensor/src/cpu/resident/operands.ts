import type { Arena } from "../memory/arena.js";
import type { WasmHeap } from "../memory/heap.js";

/**
 * Operands of a resident kernel: byte addresses in one memory (the kernel's home). An operand in
 * another memory (a model spread over several) or outside the heap is copied into scratch there;
 * `done` copies scratch outputs back and frees the scratch.
 */
export class Operands {
  private readonly temps: Float32Array[] = [];
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

  /** Scratch floats in the home memory, freed by done(). */
  scratch(length: number): Float32Array | null {
    const temp = this.heap.allocIn(this.home, "float32", length) as Float32Array | null;
    if (temp !== null) this.temps.push(temp);
    return temp;
  }

  /** Copies scratch outputs to where they belong (when `ok`) and frees all scratch. */
  done(ok = true): void {
    if (ok) for (const c of this.copyBack) c();
    for (const t of this.temps) this.heap.free(t);
    this.temps.length = 0;
    this.copyBack.length = 0;
  }
}
