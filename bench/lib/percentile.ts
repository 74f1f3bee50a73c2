/** Percentiles of latency samples (bench/lib/stats.ts has the median and spread). */

/**
 * The p-th percentile (0 < p ≤ 100) of `values` by the nearest-rank method: the smallest sample
 * with at least p % of the samples at or below it (p99 of 600 samples is the 594th smallest).
 * NaN when empty.
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1] ?? NaN;
}

/** A small seeded pseudo-random generator (mulberry32): the same values on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
