/**
 * Sort in the proxy, bounded when a LIMIT is known: only the first `keep` items (by `compare`)
 * are kept — the buffer is sorted and cut whenever it reaches twice that — so ORDER BY … LIMIT
 * over many rows holds O(keep) of them. Ties keep their arrival order (stable sort).
 */
export class TopN<T> {
  private items: T[] = [];

  constructor(
    private readonly compare: (a: T, b: T) => number,
    private readonly keep: number | undefined,
  ) {}

  add(item: T): void {
    this.items.push(item);
    if (this.keep !== undefined && this.items.length >= Math.max(2 * this.keep, 1024)) this.cut();
  }

  /** Everything kept, in order; the buffer is emptied. */
  drain(): T[] {
    this.cut();
    const out = this.items;
    this.items = [];
    return out;
  }

  private cut(): void {
    this.items.sort(this.compare);
    if (this.keep !== undefined && this.items.length > this.keep) this.items.length = this.keep;
  }
}
