import type { Clock } from "../domain/clock.js";
import { advanceCursor, SETTLE_MS } from "../domain/revocation-cursor.js";
import { AppError } from "../domain/errors.js";
import type { RevocationLog, StoredRevocation } from "../domain/revocation-ports.js";

const PAGE = 1000;

export interface RevocationPage {
  entries: StoredRevocation[];
  /** Safe to pass back as `since`: nothing at or below it can still appear. */
  cursor: bigint;
}

/**
 * GET /revocations (SPEC §4), read from Postgres, the source of truth:
 * every live entry, or those after a cursor. The cursor returned never
 * passes an id that might still commit (see domain/revocation-cursor.ts),
 * so a client polling with it misses nothing; it may see an entry twice.
 */
export class RevocationListing {
  constructor(private readonly deps: { log: RevocationLog; clock: Clock; settleMs?: number }) {}

  /** Throws 410 for a cursor this list never gave out (e.g. from a database since replaced). */
  async list(since?: bigint): Promise<RevocationPage> {
    const { log, clock } = this.deps;
    if (since !== undefined && since > (await log.headId())) {
      throw new AppError("invalid_request", 410, "the cursor is unknown here; fetch the full list without `since`");
    }
    const now = clock.now();
    const entries: StoredRevocation[] = [];
    for (let after = since ?? 0n; ; ) {
      const page = await log.liveSince(now, after, PAGE);
      entries.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    const settled = await log.settledId(new Date(now.getTime() - (this.deps.settleMs ?? SETTLE_MS)));
    const base = since !== undefined && since > settled ? since : settled;
    const recent = [];
    for (let after = base; ; ) {
      const page = await log.rowsAfter(after, PAGE);
      recent.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    return { entries, cursor: advanceCursor(base, recent, now, this.deps.settleMs) };
  }
}
