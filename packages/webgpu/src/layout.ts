/** Shape arithmetic shared by the kernels (all in elements). */

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/**
 * Merges adjacent dims that every stride set walks as one (stride[d] = stride[d+1] * shape[d+1])
 * and drops size-1 dims, so a contiguous elementwise op becomes rank 1 and a broadcast row
 * becomes rank 2: fewer divisions per element and fewer shader variants. `groups` (optional)
 * keeps dims of different groups (e.g. reduced vs kept) from merging.
 */
export function coalesce(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  groups?: readonly number[],
): { shape: number[]; strides: number[][]; groups: number[] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  const outGroups: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d]!;
    if (n === 1) continue;
    const g = groups?.[d] ?? 0;
    const last = outShape.length - 1;
    const mergeable = last >= 0 && outGroups[last] === g && strides.every((s, v) => outStrides[v]![last] === s[d]! * n);
    if (mergeable) {
      outShape[last]! *= n;
      strides.forEach((s, v) => (outStrides[v]![last] = s[d]!));
    } else {
      outShape.push(n);
      strides.forEach((s, v) => outStrides[v]!.push(s[d]!));
      outGroups.push(g);
    }
  }
  return { shape: outShape, strides: outStrides, groups: outGroups };
}

/** Workgroup counts for `n` workgroups, folded into 2-D past the 65,535-per-dimension limit. */
export function grid(n: number, maxPerDim = 65535): [number, number, number] {
  if (n <= maxPerDim) return [Math.max(n, 1), 1, 1];
  const y = Math.ceil(n / maxPerDim);
  return [Math.ceil(n / y), y, 1];
}
