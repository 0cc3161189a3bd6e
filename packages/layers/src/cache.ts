import { BYTES_PER_ELEMENT, concat, empty, keep, writeInto, zeros, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "./errors.js";
import type { KVCache } from "./language_model.js";

/** Positions a cache buffer starts with, before it doubles as needed. */
const MIN_CAPACITY = 64;
/**
 * Bytes a buffer may reserve for the positions the model can attend to (maxPositions):
 * GPT-2-small's 1,024 positions take 3 MiB a buffer, TinyLlama's 2,048 take 2 MiB; a model whose
 * context would take more starts at what fits here and doubles from there.
 */
const RESERVE_BYTES = 4 * 2 ** 20;

export interface LayerKVCacheOptions {
  /**
   * A sliding window of this many positions (each query sees itself and the window - 1 before it):
   * the cache then keeps only the last window - 1 positions between steps, as transformers'
   * DynamicSlidingWindowLayer does. Default: keep every position.
   */
  window?: number | null;
  /**
   * The most positions the model attends to (its config's maxPositions): when the first buffers
   * (sized for the prompt) fill, the next ones have room for that many (up to 4 MiB a buffer), so
   * decoding copies the held positions once instead of at every doubling. Reserved room that no
   * position has reached yet is never written, so on the CPU backend it takes address space in the
   * WebAssembly memory but no physical memory. Default: none (buffers start at 64 positions and
   * double). Infinity (a model without a limit, such as ALiBi's): as many as 4 MiB a buffer holds.
   */
  maxPositions?: number | null;
}

/**
 * One attention layer's keys and values, [batch, kvHeads, positions, headDim].
 *
 * They live in buffers with room to spare, [batch, kvHeads, capacity, headDim], that double when
 * full (or grow to the model's maxPositions at once: see LayerKVCacheOptions.maxPositions): each
 * step writes only its own positions in place (Backend.writeInto), so decoding T tokens
 * copies O(T) values, not the O(T^2) of concatenating the whole cache every step (and allocates
 * nothing between doublings). `keys` and `values` are views of what the last step attended to.
 * Where the backend cannot write in place, or this step's keys take part in autograd, the cache
 * concatenates instead.
 *
 * With a window, positions older than window - 1 are dropped before each step: the buffers stop
 * growing at about twice the window, and the kept positions move to the front when they fill.
 */
export class LayerKVCache {
  readonly window: number | null;
  keys: Tensor | null = null;
  values: Tensor | null = null;
  /** Positions appended since the cache was made or released (what positions continue from). */
  private seen = 0;
  private keyBuffer: Tensor | null = null;
  /** Set once the backend has said it cannot write in place. */
  private concatenates = false;
  private valueBuffer: Tensor | null = null;
  /** Buffer index of keys[0]. */
  private bufferStart = 0;

  /** See LayerKVCacheOptions.maxPositions. */
  readonly maxPositions: number | null;

  constructor(options: LayerKVCacheOptions = {}) {
    const window = options.window ?? null;
    const maxPositions = options.maxPositions ?? null;
    if (window !== null && !(Number.isInteger(window) && window >= 1)) {
      throw new LayerArgumentError(`LayerKVCache: window must be a positive integer or null, found ${window}`);
    }
    if (maxPositions !== null && !((Number.isInteger(maxPositions) || maxPositions === Infinity) && maxPositions >= 1)) {
      throw new LayerArgumentError(`LayerKVCache: maxPositions must be a positive integer, Infinity or null, found ${maxPositions}`);
    }
    this.window = window;
    this.maxPositions = maxPositions;
  }

  /** Positions appended in all (with a window, more than `keys` holds). */
  get length(): number {
    return this.seen;
  }

  /** The position of keys[0]: 0 unless a window has dropped older positions. */
  get start(): number {
    return this.seen - (this.keys?.shape[2] ?? 0);
  }

  /** Positions the buffers hold before they must grow (0 when the cache concatenates). */
  get capacity(): number {
    return this.keyBuffer?.shape[2] ?? 0;
  }

  /**
   * Appends this step's keys and values and returns the ones this step attends to: every position
   * so far, or with a window the last window - 1 before this step and this step's own, the first
   * of them at position `start`.
   */
  append(keys: Tensor, values: Tensor): { keys: Tensor; values: Tensor; start: number } {
    const inGraph = keys.requiresGrad || values.requiresGrad || !!this.keys?.requiresGrad;
    const dropped = this.outOfWindow();
    // writeInto says whether the backend wrote in place; where it cannot, the cache concatenates
    if (inGraph || this.concatenates || !this.appendInPlace(keys, values, dropped)) this.appendByConcat(keys, values, dropped);
    this.seen += keys.shape[2]!;
    return { keys: this.keys!, values: this.values!, start: this.start };
  }

  /** How many of the held positions the next queries can no longer see (0 without a window). */
  private outOfWindow(): number {
    const held = this.keys?.shape[2] ?? 0;
    return this.window === null ? 0 : Math.max(0, held - (this.window - 1));
  }

  private appendByConcat(keys: Tensor, values: Tensor, dropped: number): void {
    // the first step's tensors may be the caller's own: hold a handle of our own, which release()
    // can dispose without disposing theirs (tensors in a graph are never disposed here)
    const own = (t: Tensor): Tensor => (t.isContiguous && !t.requiresGrad ? t.detach() : t.contiguous());
    const next = (held: Tensor | null, step: Tensor): Tensor => {
      if (!held || held.shape[2] === dropped) return keep(own(step));
      const kept = dropped ? held.slice(2, dropped) : held;
      const joined = keep(concat([kept, step], 2));
      if (kept !== held) kept.dispose();
      return joined;
    };
    const nextKeys = next(this.keys, keys);
    const nextValues = next(this.values, values);
    const seen = this.seen;
    this.release();
    this.seen = seen;
    this.keys = nextKeys;
    this.values = nextValues;
  }

  /**
   * Writes this step's positions into the buffers, after the held ones still in the window; false,
   * changing nothing, when the backend cannot write in place (the cache concatenates from then on).
   */
  private appendInPlace(keys: Tensor, values: Tensor, dropped: number): boolean {
    if (this.keyBuffer === null && !canWriteInPlace(keys)) {
      this.concatenates = true;
      return false;
    }
    const kept = (this.keys?.shape[2] ?? 0) - dropped;
    const incoming = keys.shape[2]!;
    if (this.keyBuffer === null || this.bufferStart + dropped + kept + incoming > this.capacity) {
      this.regrow(keys, values, dropped, kept + incoming);
    } else {
      this.bufferStart += dropped;
    }
    const at = this.bufferStart + kept;
    write(this.keyBuffer!, at, keys);
    write(this.valueBuffer!, at, values);
    this.setViews(this.bufferStart, at + incoming);
    return true;
  }

  /**
   * New buffers with room for `needed` positions, holding the held keys and values from `dropped`
   * on at the front. Without a window they double; with one they stop at twice the window (or
   * what one step needs), so the held positions move to the front every window or so steps.
   */
  private regrow(keys: Tensor, values: Tensor, dropped: number, needed: number): void {
    // the first buffers fit the prompt; once decoding fills them, they grow to the model's context
    // at once (see reservedCapacity) rather than doubling and copying every 2^k positions
    const doubled = Math.max(MIN_CAPACITY, 2 * this.capacity);
    const next = Math.max(doubled, this.capacity === 0 ? 0 : this.reservedCapacity(keys));
    const capacity = Math.max(needed, this.window === null ? next : Math.min(next, 2 * this.window));
    const buffer = (t: Tensor, held: Tensor | null): Tensor => {
      const [b, h, , d] = t.shape as [number, number, number, number];
      // positions past the views are never read: no need to zero them (see empty)
      const grown = keep(empty([b, h, capacity, d], { dtype: t.dtype, backend: t.backend }));
      if (held && held.shape[2]! > dropped) {
        const kept = positions(held, dropped, held.shape[2]!);
        write(grown, 0, kept);
        kept.dispose();
      }
      return grown;
    };
    const keyBuffer = buffer(keys, this.keys);
    const valueBuffer = buffer(values, this.values);
    const kept = (this.keys?.shape[2] ?? 0) - dropped;
    const seen = this.seen;
    this.release();
    this.seen = seen;
    this.keyBuffer = keyBuffer;
    this.valueBuffer = valueBuffer;
    this.setViews(0, kept);
  }

  /**
   * Positions the buffers grow to when the first ones fill: maxPositions where a buffer of them
   * takes at most RESERVE_BYTES, else as many as fit there (0 without maxPositions: they double).
   * Not at the first append: a prompt's temporaries are large, and made between one layer's
   * reserved buffers and the next they would touch the pages under the later ones (GPT-2-small's
   * peak RSS rose from 1.24x to 1.34x its weights that way).
   */
  private reservedCapacity(keys: Tensor): number {
    if (this.maxPositions === null) return 0;
    const [b, h, , d] = keys.shape as [number, number, number, number];
    const fits = Math.floor(RESERVE_BYTES / (b * h * d * BYTES_PER_ELEMENT[keys.dtype]));
    return Math.min(this.maxPositions, fits);
  }

  /** keys/values become views of buffer positions [start, end). */
  private setViews(start: number, end: number): void {
    this.keys?.dispose();
    this.values?.dispose();
    this.bufferStart = start;
    this.keys = keep(positions(this.keyBuffer!, start, end));
    this.values = keep(positions(this.valueBuffer!, start, end));
  }

  /** Whether the first `length` positions are still held (a window drops the oldest). */
  canKeep(length: number): boolean {
    return length === 0 || length >= this.start;
  }

  /**
   * Keeps the first `length` positions and forgets the rest (a chat whose next prompt shares only
   * part of what was cached). The buffers keep their room; the next append writes over the rest.
   * A window may have dropped positions before `length`: see canKeep.
   */
  truncate(length: number): void {
    checkTruncate(length, this.seen);
    if (length === this.seen) return;
    if (length === 0) {
      this.release();
      return;
    }
    if (!this.canKeep(length)) {
      throw new LayerArgumentError(
        `KV cache truncate: positions before ${this.start} fell out of the window; cannot keep the first ${length}`,
      );
    }
    const held = length - this.start;
    if (this.keyBuffer) {
      this.setViews(this.bufferStart, this.bufferStart + held);
    } else {
      const [keys, values] = [this.keys!, this.values!];
      this.keys = keep(keys.slice(2, 0, held).contiguous());
      this.values = keep(values.slice(2, 0, held).contiguous());
      if (!keys.requiresGrad) keys.dispose();
      if (!values.requiresGrad) values.dispose();
    }
    this.seen = length;
  }

  /** Frees the stored tensors unless an autograd graph still needs them; the cache starts over. */
  release(): void {
    for (const t of [this.keys, this.values, this.keyBuffer, this.valueBuffer]) if (t && !t.requiresGrad) t.dispose();
    this.keys = null;
    this.values = null;
    this.keyBuffer = null;
    this.valueBuffer = null;
    this.bufferStart = 0;
    this.seen = 0;
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

/**
 * Whether the backend writes in place: a one-element write into a scratch tensor, asked once per
 * cache, before any buffer is made (writeInto answers false, writing nothing, where it cannot).
 */
function canWriteInPlace(like: Tensor): boolean {
  const [dst, src] = [0, 1].map(() => zeros([1], { dtype: like.dtype, backend: like.backend })) as [Tensor, Tensor];
  try {
    return writeInto(dst, src);
  } finally {
    dst.dispose();
    src.dispose();
  }
}

/** Writes `t` into `buffer` at position `at` of axis 2 (the backend can: appendInPlace checked). */
function write(buffer: Tensor, at: number, t: Tensor): void {
  const dst = positions(buffer, at, at + t.shape[2]!);
  try {
    writeInto(dst, t);
  } finally {
    dst.dispose();
  }
}

/** A cache for a stack of attention layers: what LanguageModel.createCache returns. */
export class TransformerKVCache implements KVCache {
  readonly layers: readonly LayerKVCache[];

  /**
   * `windows`: each layer's sliding window (null: keeps every position); default none.
   * `maxPositions`: the model's context, which each layer's buffers grow to (see
   * LayerKVCacheOptions.maxPositions); default none.
   */
  constructor(layerCount: number, options: { windows?: readonly (number | null)[]; maxPositions?: number | null } = {}) {
    const windows = options.windows;
    if (windows && windows.length !== layerCount) {
      throw new LayerArgumentError(`TransformerKVCache: expected ${layerCount} windows (one per layer), found ${windows.length}`);
    }
    const maxPositions = options.maxPositions ?? null;
    this.layers = Array.from({ length: layerCount }, (_, i) => new LayerKVCache({ window: windows?.[i] ?? null, maxPositions }));
  }

  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /**
   * Keeps the first `length` positions in every layer and returns how many it kept: `length`, or 0
   * when a layer's window has already dropped some of them (the cache then starts over).
   */
  truncate(length: number): number {
    checkTruncate(length, this.length);
    if (!this.layers.every((layer) => layer.canKeep(length))) {
      this.dispose();
      return 0;
    }
    for (const layer of this.layers) layer.truncate(length);
    return length;
  }

  dispose(): void {
    for (const layer of this.layers) layer.release();
  }
}

function checkTruncate(length: number, held: number): void {
  if (!Number.isInteger(length) || length < 0 || length > held) {
    throw new LayerArgumentError(`KV cache truncate: expected a length in [0, ${held}] (the positions seen), found ${length}`);
  }
}
