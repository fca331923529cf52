/** A min-heap of integers that ignores pushes of values already queued. */
export class RankQueue {
  private readonly items: number[] = [];
  private readonly queued = new Set<number>();

  push(rank: number): void {
    if (this.queued.has(rank)) return;
    this.queued.add(rank);
    const a = this.items;
    a.push(rank);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p]! <= rank) break;
      a[i] = a[p]!;
      i = p;
    }
    a[i] = rank;
  }

  pop(): number | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= a.length) break;
        const r = l + 1;
        const c = r < a.length && a[r]! < a[l]! ? r : l;
        if (a[c]! >= last) break;
        a[i] = a[c]!;
        i = c;
      }
      a[i] = last;
    }
    this.queued.delete(top);
    return top;
  }

  get size(): number {
    return this.items.length;
  }
}
