import type { Clock } from "../domain/clock.js";
import type { StoredRevocation } from "../domain/revocation-ports.js";

export interface OutboxWorkerDeps {
  outbox: {
    unpublished(limit: number): Promise<StoredRevocation[]>;
    markPublished(ids: bigint[], at: Date): Promise<void>;
  };
  /** Delivers entries (to Redis, or to the in-process mirror); throws when it cannot. */
  deliver(entries: readonly StoredRevocation[], now: Date): Promise<void>;
  /** Runs fn under a cross-instance lock, skipping if another instance holds it. */
  withLock(fn: () => Promise<void>): Promise<void>;
  clock: Clock;
}

const BATCH = 500;

/**
 * Replays revocations that were committed but never reached Redis (SPEC §4:
 * queued durably, replayed when it returns). One instance at a time, under a
 * Postgres advisory lock. Expired entries need no delivery, only marking.
 */
export function createOutboxWorker(deps: OutboxWorkerDeps): { drain(): Promise<void> } {
  return {
    async drain() {
      // Nearly every tick finds nothing: look first, because the lock costs a
      // Postgres connection of its own (a backend process) each time.
      if ((await deps.outbox.unpublished(1)).length === 0) return;
      await deps.withLock(async () => {
        for (;;) {
          const rows = await deps.outbox.unpublished(BATCH);
          if (rows.length === 0) return;
          const now = deps.clock.now();
          await deps.deliver(
            rows.filter((r) => r.expiresAt > now),
            now,
          );
          await deps.outbox.markPublished(
            rows.map((r) => r.id),
            now,
          );
          if (rows.length < BATCH) return;
        }
      });
    },
  };
}
