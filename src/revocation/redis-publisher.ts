import type { Clock } from "../domain/clock.js";
import type { RevocationPublisher } from "../domain/ports.js";
import type { StoredRevocation } from "../domain/revocation-ports.js";
import type { AckWaiter } from "./ack-waiter.js";
import type { RevocationFeed } from "./revocation-feed.js";

export interface RedisPublisherDeps {
  feed: RevocationFeed;
  /**
   * Writes the entries to Redis and announces them, asking receivers to
   * acknowledge to `ack.to` when given; throws when Redis cannot take them.
   */
  deliver(entries: readonly StoredRevocation[], now: Date, ack?: { to: string; tag: string }): Promise<void>;
  /** Waits for the instances that answer from their mirrors alone (mirror leases). */
  acks?: { selfId: string; waiter: AckWaiter };
  outbox: { markPublished(ids: bigint[], at: Date): Promise<void> };
  clock: Clock;
  /**
   * How long to hold the answer when Redis could not be written: long enough
   * for every other instance's Postgres poll to have seen the entries, so the
   * caller's answer still means "revoked everywhere" (SPEC §4).
   */
  undeliveredDelayMs: number;
  onError(err: unknown): void;
}

/**
 * Publishes committed revocations with REDIS_URL: into this instance's
 * mirror at once, then to Redis (keys + channel), then marked published; the
 * revoking call answers once every instance trusting its mirror has the
 * entries (or has stopped trusting it). If Redis is unreachable the revocation
 * stands (it is in Postgres), stays unpublished for the outbox worker, and
 * the answer waits one poll interval so other instances learn it from
 * Postgres. Never throws.
 */
export function createRedisPublisher(deps: RedisPublisherDeps): RevocationPublisher {
  return {
    async publish(entries) {
      if (entries.length === 0) return;
      const now = deps.clock.now();
      deps.feed.learn(entries, now.getTime());
      const ticket = deps.acks?.waiter.ticket();
      try {
        await deps.deliver(entries, now, ticket && { to: deps.acks!.selfId, tag: ticket.tag });
      } catch (err) {
        if (ticket) deps.acks!.waiter.discard(ticket);
        deps.onError(err);
        await new Promise((r) => setTimeout(r, deps.undeliveredDelayMs));
        return;
      }
      await Promise.all([
        deps.outbox
          .markPublished(
            entries.map((e) => e.id),
            now,
          )
          .catch(deps.onError),
        ticket ? deps.acks!.waiter.settle(ticket) : undefined,
      ]);
    },
  };
}

/** With no Redis: the in-process publisher, whose entries the feed then announces to streams. */
export function withFeed(inner: RevocationPublisher, feed: RevocationFeed, clock: Clock): RevocationPublisher {
  return {
    async publish(entries) {
      await inner.publish(entries);
      feed.learn(entries, clock.now().getTime());
    },
  };
}
