/**
 * Cursors over the revocations table. Ids come from a sequence and are
 * handed out when a row is inserted, not when it commits, so a cursor taken
 * as "the highest id seen" could skip a row committed later with a lower id.
 * A cursor here only moves past an id that is present, or past a gap that is
 * older than any transaction can live: rows written more than SETTLE_MS ago
 * are final, and so is every id below them.
 */

/**
 * How old a row must be before every lower id is final: twice the longest
 * transaction (10 s, see session-store.ts), plus room for clock skew.
 */
export const SETTLE_MS = 30_000;

/**
 * The highest id c ≥ base such that every revocation with an id ≤ c is
 * committed and among `rows` (or at or below `base`). `rows` are every row
 * with an id > base, oldest first.
 */
export function advanceCursor(base: bigint, rows: ReadonlyArray<{ id: bigint; createdAt: Date }>, now: Date, settleMs = SETTLE_MS): bigint {
  const settledBefore = now.getTime() - settleMs;
  let lastSettled = -1;
  rows.forEach((r, i) => {
    if (r.createdAt.getTime() <= settledBefore) lastSettled = i;
  });
  let cursor = base;
  for (let i = 0; i < rows.length; i++) {
    const id = rows[i]!.id;
    // A gap before a settled row is a rolled-back insert; one after it may be in flight.
    if (i <= lastSettled || id === cursor + 1n) cursor = id;
    else break;
  }
  return cursor;
}

/** Cursors are the id as a decimal string; anything else is a client error. */
export function parseCursor(text: string): bigint | null {
  if (!/^(0|[1-9]\d{0,18})$/.test(text)) return null;
  const n = BigInt(text);
  return n <= 9_223_372_036_854_775_807n ? n : null;
}
