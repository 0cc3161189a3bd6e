import { concat, keep, writeInto, zeros, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "./errors.js";
import type { KVCache } from "./language_model.js";

/** Positions a cache buffer starts with, before it doubles as needed. */
const MIN_CAPACITY = 64;

/**
 * One attention layer's keys and values so far, [batch, kvHeads, positions, headDim].
 *
 * They live in buffers with room to spare, [batch, kvHeads, capacity, headDim], that double when
 * full: each step writes only its own positions in place (Backend.writeInto), so decoding T tokens
 * copies O(T) values, not the O(T^2) of concatenating the whole cache every step (and allocates
 * nothing between doublings). `keys` and `values` are views of the filled part. Where the backend
 * cannot write in place, or this step's keys take part in autograd, the cache concatenates instead.
 */
export class LayerKVCache {
  keys: Tensor | null = null;
  values: Tensor | null = null;
  private keyBuffer: Tensor | null = null;
  /** Set once the backend has said it cannot write in place. */
  private concatenates = false;
  private valueBuffer: Tensor | null = null;

  get length(): number {
    return this.keys?.shape[2] ?? 0;
  }

  /** Positions the buffers hold before they must grow (0 when the cache concatenates). */
  get capacity(): number {
    return this.keyBuffer?.shape[2] ?? 0;
  }

  /** Appends this step's keys and values and returns all of them. */
  append(keys: Tensor, values: Tensor): { keys: Tensor; values: Tensor } {
    const inGraph = keys.requiresGrad || values.requiresGrad || !!this.keys?.requiresGrad;
    if (inGraph || this.concatenates || !this.appendInPlace(keys, values)) this.appendByConcat(keys, values);
    return { keys: this.keys!, values: this.values! };
  }

  private appendByConcat(keys: Tensor, values: Tensor): void {
    // the first step's tensors may be the caller's own: hold a handle of our own, which release()
    // can dispose without disposing theirs (tensors in a graph are never disposed here)
    const own = (t: Tensor): Tensor => (t.isContiguous && !t.requiresGrad ? t.detach() : t.contiguous());
    const nextKeys = keep(this.keys ? concat([this.keys, keys], 2) : own(keys));
    const nextValues = keep(this.values ? concat([this.values, values], 2) : own(values));
    this.release();
    this.keys = nextKeys;
    this.values = nextValues;
  }

  /**
   * Writes in place; false when the backend cannot (writeInto says so without writing), and the
   * cache then concatenates from here on.
   */
  private appendInPlace(keys: Tensor, values: Tensor): boolean {
    const used = this.length;
    const next = used + keys.shape[2]!;
    if (next > this.capacity) this.grow(keys, values, next);
    if (!write(this.keyBuffer!, used, keys)) {
      this.concatenates = true;
      this.dropBuffers();
      return false;
    }
    write(this.valueBuffer!, used, values);
    this.setViews(next);
    return true;
  }

  /** Frees the spare-room buffers, keeping the filled keys and values as tensors of their own. */
  private dropBuffers(): void {
    // keys/values are views of the buffers: a copy of their own (or a handle, when the view is
    // already the whole contiguous buffer) lets the buffers go
    const own = (t: Tensor | null): Tensor | null => {
      if (!t) return null;
      const copy = t.contiguous();
      return keep(copy === t ? t.detach() : copy);
    };
    const [keys, values] = [this.keys, this.values];
    this.keys = own(keys);
    this.values = own(values);
    keys?.dispose();
    values?.dispose();
    this.keyBuffer?.dispose();
    this.valueBuffer?.dispose();
    this.keyBuffer = null;
    this.valueBuffer = null;
  }

  /** New buffers with room for at least `positions`, holding what the cache has so far. */
  private grow(keys: Tensor, values: Tensor, positions: number): void {
    const capacity = Math.max(MIN_CAPACITY, positions, 2 * this.capacity);
    const buffer = (t: Tensor, old: Tensor | null): Tensor => {
      const [b, h, , d] = t.shape as [number, number, number, number];
      const grown = keep(zeros([b, h, capacity, d], { dtype: t.dtype, backend: t.backend }));
      if (old) write(grown, 0, old);
      return grown;
    };
    const keyBuffer = buffer(keys, this.keys);
    const valueBuffer = buffer(values, this.values);
    const used = this.length;
    this.release();
    this.keyBuffer = keyBuffer;
    this.valueBuffer = valueBuffer;
    this.setViews(used);
  }

  /** keys/values become views of the first `used` positions of the buffers. */
  private setViews(used: number): void {
    this.keys?.dispose();
    this.values?.dispose();
    this.keys = keep(positions(this.keyBuffer!, 0, used));
    this.values = keep(positions(this.valueBuffer!, 0, used));
  }

  /**
   * Keeps the first `length` positions and forgets the rest (a chat whose next prompt shares only
   * part of what was cached). The buffers keep their room; the next append writes over the rest.
   */
  truncate(length: number): void {
    checkTruncate(length, this.length);
    if (length === this.length) return;
    if (length === 0) {
      this.release();
      return;
    }
    if (this.keyBuffer) {
      this.setViews(length);
      return;
    }
    const [keys, values] = [this.keys!, this.values!];
    this.keys = keep(keys.slice(2, 0, length).contiguous());
    this.values = keep(values.slice(2, 0, length).contiguous());
    if (!keys.requiresGrad) keys.dispose();
    if (!values.requiresGrad) values.dispose();
  }

  /** Frees the stored tensors unless an autograd graph still needs them. */
  release(): void {
    for (const t of [this.keys, this.values, this.keyBuffer, this.valueBuffer]) if (t && !t.requiresGrad) t.dispose();
    this.keys = null;
    this.values = null;
    this.keyBuffer = null;
    this.valueBuffer = null;
  }
}

/**
 * A view of positions [start, end) of a buffer: always a tensor of its own (a slice of the whole
 * is the buffer itself, which disposing the view must not dispose).
 */
function positions(buffer: Tensor, start: number, end: number): Tensor {
  const view = buffer.slice(2, start, end);
  return view === buffer ? buffer.detach() : view;
}

/** Writes `t` into `buffer` at position `at` of axis 2; false when the backend cannot write in place. */
function write(buffer: Tensor, at: number, t: Tensor): boolean {
  const dst = positions(buffer, at, at + t.shape[2]!);
  try {
    return writeInto(dst, t);
  } finally {
    dst.dispose();
  }
}

/** A cache for a stack of attention layers: what LanguageModel.createCache returns. */
export class TransformerKVCache implements KVCache {
  readonly layers: readonly LayerKVCache[];

  constructor(layerCount: number) {
    this.layers = Array.from({ length: layerCount }, () => new LayerKVCache());
  }

  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /** Keeps the first `length` positions of every layer. */
  truncate(length: number): void {
    checkTruncate(length, this.length);
    for (const layer of this.layers) layer.truncate(length);
  }

  dispose(): void {
    for (const layer of this.layers) layer.release();
  }
}

function checkTruncate(length: number, held: number): void {
  if (!Number.isInteger(length) || length < 0 || length > held) {
    throw new LayerArgumentError(`KV cache truncate: expected a length in [0, ${held}] (the positions held), found ${length}`);
  }
}
