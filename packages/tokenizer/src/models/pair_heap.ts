/** Max-heap of (count, a, b): highest count first, then the smaller pair, with lazy deletion by the caller. */
export class PairHeap {
  private counts: number[] = [];
  private as: number[] = [];
  private bs: number[] = [];

  get size(): number {
    return this.counts.length;
  }

  private before(i: number, j: number): boolean {
    const c = this.counts;
    if (c[i] !== c[j]) return c[i]! > c[j]!;
    if (this.as[i] !== this.as[j]) return this.as[i]! < this.as[j]!;
    return this.bs[i]! < this.bs[j]!;
  }

  private swap(i: number, j: number): void {
    const { counts: c, as: a, bs: b } = this;
    [c[i], c[j]] = [c[j]!, c[i]!];
    [a[i], a[j]] = [a[j]!, a[i]!];
    [b[i], b[j]] = [b[j]!, b[i]!];
  }

  push(count: number, a: number, b: number): void {
    this.counts.push(count);
    this.as.push(a);
    this.bs.push(b);
    let i = this.counts.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry and returns it as [count, a, b]. */
  pop(): [number, number, number] {
    const top: [number, number, number] = [this.counts[0]!, this.as[0]!, this.bs[0]!];
    const last = this.counts.length - 1;
    this.swap(0, last);
    this.counts.pop();
    this.as.pop();
    this.bs.pop();
    let i = 0;
    const n = this.counts.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.before(l, m)) m = l;
      if (r < n && this.before(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}
