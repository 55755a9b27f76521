/** Median of a non-empty list (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error("median of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0–100) of a non-empty list. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of nothing");
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/** A number with its magnitude's worth of digits: 12 345, 123, 12.3, 1.23. */
export function fmt(n: number, unit = ""): string {
  if (!Number.isFinite(n)) return "n/a";
  const abs = Math.abs(n);
  const s =
    abs >= 1000
      ? Math.round(n).toLocaleString("en-US")
      : abs >= 100
        ? n.toFixed(0)
        : abs >= 10
          ? n.toFixed(1)
          : abs >= 1
            ? n.toFixed(2)
            : n.toFixed(3);
  return unit ? `${s} ${unit}` : s;
}

/** `a / b` as "0.62×". */
export const ratio = (a: number, b: number): string => (b === 0 || !Number.isFinite(a / b) ? "n/a" : `${(a / b).toFixed(2)}×`);

export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** A latency autocannon reported (whole milliseconds; 0 means under one). */
export const wholeMs = (n: number): string => (n < 1 ? "< 1" : String(Math.round(n)));
