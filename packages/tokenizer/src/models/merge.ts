import type { MergeLookup } from "./merge_table.js";

const SLOT = 2 ** 26; // positions per rank in heap keys (words up to 67M symbols)
const SMALL = 40;

const rankBuf = new Int32Array(64);
const resBuf = new Int32Array(64);
let nextBuf = new Int32Array(64);
let prevBuf = new Int32Array(64);
let heap = new Float64Array(64);

/**
 * Applies BPE merges to the symbols sym[0..n) in place: repeatedly joins the adjacent pair
 * with the lowest rank, leftmost first on ties. Returns the new symbol count.
 */
export function mergeSymbols(table: MergeLookup, sym: Int32Array, n: number): number {
  if (n < 2) return n;
  return n <= SMALL ? mergeSmall(table, sym, n) : mergeLarge(table, sym, n);
}

/** O(n^2) scan over a flat array: fastest for the short pieces that make up most text. */
function mergeSmall(table: MergeLookup, sym: Int32Array, n: number): number {
  const rk = rankBuf;
  const rs = resBuf;
  for (let i = 0; i < n - 1; i++) {
    const s = table.find(sym[i]!, sym[i + 1]!);
    if (s < 0) rk[i] = 0x7fffffff;
    else {
      rk[i] = table.rank(s);
      rs[i] = table.result(s);
    }
  }
  while (n > 1) {
    let min = 0x7fffffff;
    let at = -1;
    for (let i = 0; i < n - 1; i++) {
      if (rk[i]! < min) {
        min = rk[i]!;
        at = i;
      }
    }
    if (at < 0) break;
    sym[at] = rs[at]!;
    for (let j = at + 1; j < n - 1; j++) {
      sym[j] = sym[j + 1]!;
      rk[j] = rk[j + 1]!;
      rs[j] = rs[j + 1]!;
    }
    n--;
    if (at > 0) {
      const s = table.find(sym[at - 1]!, sym[at]!);
      if (s < 0) rk[at - 1] = 0x7fffffff;
      else {
        rk[at - 1] = table.rank(s);
        rs[at - 1] = table.result(s);
      }
    }
    if (at < n - 1) {
      const s = table.find(sym[at]!, sym[at + 1]!);
      if (s < 0) rk[at] = 0x7fffffff;
      else {
        rk[at] = table.rank(s);
        rs[at] = table.result(s);
      }
    }
  }
  return n;
}

/** Linked list plus a binary heap of (rank, position): O(n log n) for long pieces. */
function mergeLarge(table: MergeLookup, sym: Int32Array, n: number): number {
  if (nextBuf.length < n) {
    nextBuf = new Int32Array(n * 2);
    prevBuf = new Int32Array(n * 2);
  }
  const next = nextBuf;
  const prev = prevBuf;
  let size = 0;
  const push = (key: number) => {
    if (size === heap.length) {
      const h = new Float64Array(heap.length * 2);
      h.set(heap);
      heap = h;
    }
    let i = size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p]! <= key) break;
      heap[i] = heap[p]!;
      i = p;
    }
    heap[i] = key;
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap[--size]!;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && heap[c + 1]! < heap[c]!) c++;
      if (heap[c]! >= last) break;
      heap[i] = heap[c]!;
      i = c;
    }
    heap[i] = last;
    return top;
  };
  for (let i = 0; i < n; i++) {
    next[i] = i + 1;
    prev[i] = i - 1;
  }
  for (let i = 0; i < n - 1; i++) {
    const s = table.find(sym[i]!, sym[i + 1]!);
    if (s >= 0) push(table.rank(s) * SLOT + i);
  }
  while (size > 0) {
    const key = pop();
    const r = Math.floor(key / SLOT);
    const i = key - r * SLOT;
    if (sym[i]! < 0) continue;
    const j = next[i]!;
    if (j >= n) continue;
    const s = table.find(sym[i]!, sym[j]!);
    if (s < 0 || table.rank(s) !== r) continue;
    sym[i] = table.result(s);
    sym[j] = -1;
    const k = next[j]!;
    next[i] = k;
    if (k < n) prev[k] = i;
    const p = prev[i]!;
    if (p >= 0) {
      const s2 = table.find(sym[p]!, sym[i]!);
      if (s2 >= 0) push(table.rank(s2) * SLOT + p);
    }
    if (k < n) {
      const s3 = table.find(sym[i]!, sym[k]!);
      if (s3 >= 0) push(table.rank(s3) * SLOT + i);
    }
  }
  let m = 0;
  for (let i = 0; i < n; i = next[i]!) sym[m++] = sym[i]!;
  return m;
}
