import type { Clock } from "../domain/clock.js";
import type { RevocationPublisher } from "../domain/ports.js";
import type { RevocationOutbox } from "../storage/prisma/revocation-outbox.js";
import type { RevocationList } from "./revocation-list.js";

/**
 * Publishes committed revocations to the in-process list (no REDIS_URL):
 * one process, so the mirror is the whole fan-out. Failures are logged; the
 * entries stay in the outbox and are replayed by the outbox worker.
 */
export function createLocalPublisher(
  list: RevocationList,
  outbox: RevocationOutbox,
  clock: Clock,
  onError: (err: unknown) => void,
): RevocationPublisher {
  return {
    async publish(entries) {
      if (entries.length === 0) return;
      list.add(entries);
      try {
        await outbox.markPublished(
          entries.map((e) => e.id),
          clock.now(),
        );
      } catch (err) {
        onError(err);
      }
    },
  };
}
