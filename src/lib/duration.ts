const UNITS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration as SPEC §9 writes them: whole seconds ("600") or a number
 * with a unit ("500ms", "10s", "15m", "2h", "7d"). Returns milliseconds, or
 * undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]) * UNITS[m[2] ?? "s"]!;
  return Number.isFinite(value) && Number.isSafeInteger(Math.round(value)) ? Math.round(value) : undefined;
}
