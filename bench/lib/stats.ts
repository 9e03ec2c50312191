// Summary statistics over one series of samples (milliseconds, bytes, ...).

export interface Summary {
  n: number;
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);

// Median (mean of the two middle values for an even count).
export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

// Nearest-rank percentile: the smallest sample with at least p% of the samples at or below it.
export const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = sorted(xs);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

export const summarize = (xs: readonly number[]): Summary => ({
  n: xs.length,
  median: median(xs),
  p95: percentile(xs, 95),
  min: xs.length ? Math.min(...xs) : Number.NaN,
  max: xs.length ? Math.max(...xs) : Number.NaN,
  mean: xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : Number.NaN,
});

export const round = (x: number, digits = 1): number => (Number.isFinite(x) ? Number(x.toFixed(digits)) : x);
