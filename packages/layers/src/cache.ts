import { BYTES_PER_ELEMENT, concat, empty, keep, writeInto, zeros, type DType, type Tensor } from "@llm/tensor";
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

/** What a cache needs to know of a step's keys or values to make buffers for them (a Tensor is one). */
export type KVShape = Pick<Tensor, "shape" | "dtype" | "backend">;

/** The dtypes a cache may keep keys and values in. */
export type KVCacheDType = "float32" | "float16" | "bfloat16";
const KV_CACHE_DTYPES: readonly KVCacheDType[] = ["float32", "float16", "bfloat16"];

export interface LayerKVCacheOptions {
  /**
   * What the cache keeps float32 keys and values as: "float16" (llama.cpp's default) or
   * "bfloat16" take half the memory, each value rounded to nearest even as it is written, and
   * attention reads them as stored (on the CPU backend a decoding step's kernel reads float16 as
   * it is; elsewhere they are widened to float32 for the product). Steps that take part in
   * autograd are kept as float32 whatever this says. Default "float32": what the model computed.
   */
  dtype?: KVCacheDType;
  /**
   * A sliding window of this many positions (each query sees itself and the window - 1 before it):
   * the cache then keeps only the last window - 1 positions between steps, as transformers'
   * DynamicSlidingWindowLayer does. Default: keep every position.
   */
  window?: number | null;
  /**
   * The most positions the model attends to (its config's maxPositions): the first buffers have
   * room for that many (up to 4 MiB a buffer, and at least the prompt), so decoding never copies
   * the held positions up to there (past it they double). Reserved room that no
   * position has reached yet is never written, so on the CPU backend it takes address space in the
   * WebAssembly memory but no physical memory. Default: none (buffers start at 64 positions and
   * double). Infinity (a model without a limit, such as ALiBi's): as many as 4 MiB a buffer holds.
   */
  maxPositions?: number | null;
  /**
   * Called once this layer has made its first buffers with room for maxPositions (its first
   * append, with the keys and values it got): TransformerKVCache reserves every other layer's
   * buffers there, at once (see LayerKVCache.reserve).
   */
  onReserved?: ((keys: Tensor, values: Tensor) => void) | null;
  /**
   * Where a first append looks for buffers of the room it wants before making new ones (the
   * buffers a disposed cache of the same model left: see KVBufferSpares).
   */
  spares?: { take(like: KVShape, capacity: number): Tensor | null } | null;
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
  /** See LayerKVCacheOptions.dtype. */
  readonly dtype: KVCacheDType;

  constructor(options: LayerKVCacheOptions = {}) {
    const window = options.window ?? null;
    const maxPositions = options.maxPositions ?? null;
    if (window !== null && !(Number.isInteger(window) && window >= 1)) {
      throw new LayerArgumentError(`LayerKVCache: window must be a positive integer or null, found ${window}`);
    }
    if (maxPositions !== null && !((Number.isInteger(maxPositions) || maxPositions === Infinity) && maxPositions >= 1)) {
      throw new LayerArgumentError(`LayerKVCache: maxPositions must be a positive integer, Infinity or null, found ${maxPositions}`);
    }
    const dtype = options.dtype ?? "float32";
    if (!KV_CACHE_DTYPES.includes(dtype)) {
      throw new LayerArgumentError(`LayerKVCache: dtype must be one of ${KV_CACHE_DTYPES.join(", ")}, found ${String(dtype)}`);
    }
    this.window = window;
    this.maxPositions = maxPositions;
    this.dtype = dtype;
    this.onReserved = options.onReserved ?? null;
    this.spares = options.spares ?? null;
  }

  private readonly onReserved: ((keys: Tensor, values: Tensor) => void) | null;
  private readonly spares: { take(like: KVShape, capacity: number): Tensor | null } | null;

  /**
   * Makes this layer's first buffers now, empty, with the room a first append of keys and values
   * shaped like these would get (nothing when it holds buffers already, has no maxPositions, or
   * the reserved room would not take those positions). A first append unlike them (other heads,
   * head size, dtype or backend) drops them and makes its own.
   */
  reserve(keys: KVShape, values: KVShape): void {
    if (this.keyBuffer !== null || this.keys !== null || this.concatenates) return;
    const capacity = this.firstCapacity(keys);
    if (capacity === 0) return;
    this.keyBuffer = this.newBuffer(keys, capacity);
    this.valueBuffer = this.newBuffer(values, capacity);
  }

  /** What a buffer for steps like `t` holds: `t` as this cache keeps it (float32 as `dtype`, anything else as it is). */
  private stored(t: KVShape): KVShape {
    const dtype: DType = t.dtype === "float32" ? this.dtype : t.dtype;
    return dtype === t.dtype ? t : { shape: t.shape, dtype, backend: t.backend };
  }

  /** A buffer for steps like `t` with room for `capacity` positions: a spare one where there is, else a new one. */
  private newBuffer(t: KVShape, capacity: number): Tensor {
    const like = this.stored(t);
    return this.spares?.take(like, capacity) ?? emptyBuffer(like, capacity);
  }

  /**
   * Hands over the buffers (null when it has none, or they take part in autograd) and forgets
   * everything, as release() does: a disposed TransformerKVCache keeps them for the next one.
   */
  releaseBuffers(): Tensor[] | null {
    const buffers = this.keyBuffer && this.valueBuffer && !this.keyBuffer.requiresGrad ? [this.keyBuffer, this.valueBuffer] : null;
    if (buffers) this.keyBuffer = this.valueBuffer = null;
    this.release();
    return buffers;
  }

  /**
   * Room the first buffers for keys like these get, holding `needed` positions: 0 where the
   * reserved room would not hold them (the doubling path).
   */
  private firstCapacity(keys: KVShape, needed = keys.shape[2]!): number {
    const reserved = this.reservedCapacity(this.stored(keys));
    const capacity = this.window === null ? reserved : Math.min(reserved, 2 * this.window);
    return capacity >= needed ? capacity : 0;
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
    const next = (held: Tensor | null, input: Tensor): Tensor => {
      // kept as `dtype`, except in a graph: there steps stay float32, and the held positions join them as float32
      const inGraph = input.requiresGrad || !!held?.requiresGrad;
      const step = inGraph || input.dtype !== "float32" || this.dtype === "float32" ? input : input.cast(this.dtype);
      if (!held || held.shape[2] === dropped) return keep(step === input ? own(step) : step);
      const sliced = dropped ? held.slice(2, dropped) : held;
      const kept = sliced.dtype === step.dtype ? sliced : sliced.cast(step.dtype);
      const joined = keep(concat([kept, step], 2));
      for (const t of [sliced, kept, step]) if (t !== held && t !== input) t.dispose();
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
    if (
      this.keys === null &&
      this.keyBuffer !== null &&
      !(fits(this.keyBuffer, this.stored(keys)) && fits(this.valueBuffer!, this.stored(values)))
    ) {
      this.release(); // reserved for keys unlike these (see reserve)
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
    // the first buffers have room for the model's context where it is small enough (see
    // reservedCapacity), so decoding never copies them; past it (or without it) they double
    const first = this.capacity === 0 ? this.firstCapacity(keys, needed) : 0;
    const doubled = Math.max(MIN_CAPACITY, 2 * this.capacity);
    const next = Math.max(doubled, this.capacity === 0 ? 0 : this.reservedCapacity(keys));
    const capacity = first || Math.max(needed, this.window === null ? next : Math.min(next, 2 * this.window));
    const buffer = (t: Tensor, held: Tensor | null): Tensor => {
      const grown = first ? this.newBuffer(t, capacity) : emptyBuffer(this.stored(t), capacity);
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
    if (first) this.onReserved?.(keys, values);
  }

  /**
   * Positions the buffers are made with: maxPositions where a buffer of them takes at most
   * RESERVE_BYTES, else as many as fit there (0 without maxPositions: they double). Every layer's
   * are made at once, before a model's first step or at the first layer's first append
   * (TransformerKVCache.reserve, onReserved): made layer by layer, a
   * prompt's temporaries between one layer's buffers and the next would touch the pages under the
   * later ones' reserved room (GPT-2-small's peak RSS rose from 1.24x to 1.34x its weights that way).
   */
  private reservedCapacity(keys: KVShape): number {
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

/** A buffer like `t` with room for `capacity` positions, unfilled: positions past the views are never read (see empty). */
function emptyBuffer(t: KVShape, capacity: number): Tensor {
  const [b, h, , d] = t.shape as [number, number, number, number];
  return keep(empty([b, h, capacity, d], { dtype: t.dtype, backend: t.backend }));
}

/** Whether a reserved buffer can take `t`'s positions: the same batch, heads, head size, dtype and backend. */
function fits(buffer: Tensor, t: KVShape): boolean {
  const [b, h, , d] = buffer.shape;
  return b === t.shape[0] && h === t.shape[1] && d === t.shape[3] && buffer.dtype === t.dtype && buffer.backend === t.backend;
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
function canWriteInPlace(like: KVShape): boolean {
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
  private readonly spares: KVBufferSpares | null;

  /**
   * `windows`: each layer's sliding window (null: keeps every position); default none.
   * `maxPositions`: the model's context, which each layer's buffers have room for (see
   * LayerKVCacheOptions.maxPositions); default none. `spares`: where dispose() leaves the buffers
   * for the next cache, and where this one looks first (a model's createCache passes its own, see
   * KVBufferSpares); default none (dispose frees them). `dtype`: what the layers keep keys and
   * values as (see LayerKVCacheOptions.dtype); default "float32".
   */
  constructor(
    layerCount: number,
    options: {
      windows?: readonly (number | null)[];
      maxPositions?: number | null;
      spares?: KVBufferSpares | null;
      dtype?: KVCacheDType;
    } = {},
  ) {
    const windows = options.windows;
    if (windows && windows.length !== layerCount) {
      throw new LayerArgumentError(`TransformerKVCache: expected ${layerCount} windows (one per layer), found ${windows.length}`);
    }
    const maxPositions = options.maxPositions ?? null;
    // the first layer to make its buffers makes every other layer's too, before the prompt's
    // temporaries (see LayerKVCache.reservedCapacity)
    const onReserved = (keys: Tensor, values: Tensor): void => {
      for (const layer of this.layers) layer.reserve(keys, values);
    };
    this.spares = options.spares ?? null;
    this.layers = Array.from(
      { length: layerCount },
      (_, i) => new LayerKVCache({ window: windows?.[i] ?? null, maxPositions, onReserved, spares: this.spares, dtype: options.dtype }),
    );
  }

  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  /**
   * Makes each layer's buffers for a first step whose keys and values are shaped like `layers[i]`
   * ([batch, kvHeads, positions, headDim]), before the step runs: a model's forward calls it
   * before its embedding, so the step's temporaries all land above the buffers rather than some
   * below them (in the WebAssembly memory, pages a prompt's temporaries touched and decoding
   * no longer uses). Nothing where the backend cannot write in place, or without maxPositions; a
   * layer whose step turns out unlike its shape makes its own buffers then.
   */
  reserve(layers: readonly KVShape[]): void {
    if (layers.length !== this.layers.length) {
      throw new LayerArgumentError(
        `TransformerKVCache.reserve: expected ${this.layers.length} shapes (one per layer), found ${layers.length}`,
      );
    }
    if (this.length !== 0 || layers.length === 0 || !canWriteInPlace(layers[0]!)) return;
    this.layers.forEach((layer, i) => layer.reserve(layers[i]!, layers[i]!));
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

  /** Frees what it holds; with spares (a model's createCache), its buffers go there for the model's next cache. */
  dispose(): void {
    if (!this.spares) {
      for (const layer of this.layers) layer.release();
      return;
    }
    this.spares.keep(this.layers.flatMap((layer) => layer.releaseBuffers() ?? []));
  }
}

/**
 * The KV buffers a model's last disposed cache held, which its next cache takes instead of making
 * new ones (llama.cpp likewise keeps one KV buffer per context). On the CPU backend the positions a
 * cache wrote are the only pages of its reserved room that take physical memory, and new buffers
 * land a little higher or lower in the WebAssembly memory each time (where the prompt's
 * temporaries fell): a second generation then touched ~10 MiB more of GPT-2-small's room, and
 * every later one more, instead of the same pages. Holds one cache's buffers at most, and only on
 * a backend whose freed memory stays with the process anyway (Backend.keepsFreedMemory): a GPU's
 * buffers are freed.
 */
export class KVBufferSpares {
  private held: Tensor[] = [];

  /** Keeps these buffers for the next cache, freeing any it held before. */
  keep(buffers: readonly Tensor[]): void {
    if (buffers.length === 0) return; // a cache that never made buffers leaves the held ones
    this.dispose();
    for (const t of buffers) {
      if (t.backend.keepsFreedMemory) this.held.push(t);
      else t.dispose();
    }
  }

  /** A held buffer of the same batch, heads, head size, dtype and backend as `like` and exactly `capacity` positions, or null. */
  take(like: KVShape, capacity: number): Tensor | null {
    const i = this.held.findIndex((b) => b.shape[2] === capacity && fits(b, like));
    return i < 0 ? null : this.held.splice(i, 1)[0]!;
  }

  /** Frees every held buffer. */
  dispose(): void {
    for (const t of this.held) t.dispose();
    this.held = [];
  }
}

function checkTruncate(length: number, held: number): void {
  if (!Number.isInteger(length) || length < 0 || length > held) {
    throw new LayerArgumentError(`KV cache truncate: expected a length in [0, ${held}] (the positions seen), found ${length}`);
  }
}
