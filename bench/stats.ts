/** Small statistics for benchmark samples. */

export interface Summary {
  readonly n: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/** Nearest-rank percentile of sorted values (p in 0..100). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export function summarize(values: readonly number[], digits = 1): Summary {
  const s = [...values].sort((a, b) => a - b);
  const r = (v: number): number => Number(v.toFixed(digits));
  return {
    n: s.length,
    min: r(s[0] ?? NaN),
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s[s.length - 1] ?? NaN),
    mean: r(s.reduce((a, b) => a + b, 0) / (s.length || 1)),
  };
}

export function round(v: number, digits = 1): number {
  return Number(v.toFixed(digits));
}

export const MiB = 1024 * 1024;
