import client from 'prom-client';

/**
 * One label combination of a BatchedHistogram: an observation is a bucket search and three
 * additions (prom-client's `observe` converts, validates and hashes the labels every time).
 * Look the cell up once and keep it.
 */
export class HistogramCell {
  /** Counts per bucket, not cumulative; the last one is above every bound (+Inf). */
  readonly counts: number[];
  sum = 0;
  count = 0;

  constructor(
    private readonly bounds: readonly number[],
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] ?? Infinity)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }
}

type HistogramData = Awaited<ReturnType<client.Histogram['get']>>;

/**
 * A Prometheus histogram for the hot path: observations go to HistogramCells (plain additions),
 * and the exposition is built from them when the registry is scraped, with the same series a
 * prom-client Histogram would show (`_bucket` with `le`, `_sum`, `_count`). It registers like any
 * prom-client metric; observe through `cell()` only (the base class's `observe`, `labels`,
 * `startTimer`, `zero` and `remove` throw, so nothing is silently lost).
 */
export class BatchedHistogram extends client.Histogram {
  private readonly bounds: readonly number[];
  private readonly names: readonly string[];
  private cellMap: Map<string, HistogramCell> | undefined;
  /** Not registered and never observed: supplies name, help, type and aggregator. */
  private readonly template: client.Histogram;

  constructor(
    config: client.HistogramConfiguration<string> & {
      readonly labelNames: readonly string[];
      readonly buckets: number[];
    },
  ) {
    super(config);
    this.bounds = [...config.buckets].sort((a, b) => a - b);
    this.names = config.labelNames;
    this.template = new client.Histogram({ ...config, registers: [] });
    // prom-client's constructor assigns observe as an own property: replace that one.
    this.observe = unsupported;
  }

  /** The cell for these label values, in the order of `labelNames`. */
  cell(...values: string[]): HistogramCell {
    const key = values.join('\0');
    const cells = (this.cellMap ??= new Map<string, HistogramCell>());
    let cell = cells.get(key);
    if (!cell) {
      const labels: Record<string, string> = {};
      this.names.forEach((name, i) => {
        labels[name] = values[i] ?? '';
      });
      cell = new HistogramCell(this.bounds, labels);
      cells.set(key, cell);
    }
    return cell;
  }

  override async get(): Promise<HistogramData> {
    const data = await this.template.get();
    const name = data.name;
    for (const cell of this.cellMap?.values() ?? []) {
      if (cell.count === 0) continue; // reset and not observed since, as prom-client shows it
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += cell.counts[i] ?? 0;
        const labels: Record<string, string | number> = { ...cell.labels, le: bound };
        data.values.push({ labels, value: cumulative, metricName: `${name}_bucket` });
      });
      const inf: Record<string, string | number> = { ...cell.labels, le: '+Inf' };
      data.values.push(
        { labels: inf, value: cell.count, metricName: `${name}_bucket` },
        { labels: { ...cell.labels }, value: cell.sum, metricName: `${name}_sum` },
        { labels: { ...cell.labels }, value: cell.count, metricName: `${name}_count` },
      );
    }
    return data;
  }

  /** The registry prefers this to get() when present (prom-client's own metrics have it). */
  getForPromString(): Promise<HistogramData> {
    return this.get();
  }

  override reset(): void {
    // prom-client's constructor calls reset() too, before this class's fields exist.
    for (const cell of this.cellMap?.values() ?? []) cell.reset();
  }

  override labels(): never {
    return unsupported();
  }

  override startTimer(): never {
    return unsupported();
  }

  override zero(): never {
    return unsupported();
  }

  override remove(): never {
    return unsupported();
  }
}

function unsupported(): never {
  throw new Error('BatchedHistogram: observe through cell()');
}
