import { randomUUID } from "node:crypto";
import type { Clock } from "../domain/clock.js";
import type { RevocationPublisher } from "../domain/ports.js";
import type { RevocationCheck, StoredRevocation } from "../domain/revocation-ports.js";
import type { Database } from "../storage/database.js";
import type { RevocationOutbox } from "../storage/prisma/revocation-outbox.js";
import type { RedisTopology } from "../config.js";
import { revocationChannels } from "../storage/redis/channels.js";
import { openRedis, type RedisCommandClient, type RedisConnections } from "../storage/redis/redis-connection.js";
import type { RedisState } from "../storage/redis/redis-state.js";
import { createRedisLeaseStore, type RedisLeaseStore } from "../storage/redis/lease-store.js";
import { createRedisRevocationStore, parseRevocationEnvelope, type RedisRevocationStore } from "../storage/redis/revocation-store.js";
import { AckWaiter } from "./ack-waiter.js";
import { createLocalPublisher } from "./local-publisher.js";
import { MirrorLease } from "./mirror-lease.js";
import { MirrorSync } from "./mirror-sync.js";
import { createOutboxWorker } from "./outbox-worker.js";
import { startPeriodic, type Periodic } from "./periodic.js";
import { createRedisPublisher, withFeed } from "./redis-publisher.js";
import { layeredRevocationCheck } from "./revocation-check.js";
import { RevocationFeed } from "./revocation-feed.js";
import { RevocationListing } from "./revocation-listing.js";

export interface RevocationRuntimeOptions {
  /** The configured Redis; without one revocations fan out in-process only. */
  redis?: RedisTopology;
  keyPrefix: string;
  db: Database;
  outbox: RevocationOutbox;
  clock: Clock;
  log: { error(obj: unknown, msg: string): void };
  pollMs: number;
  outboxIntervalMs: number;
  /** Length of an instance's mirror lease (default 2 s): the longest a revocation waits for an instance that stopped answering. */
  mirrorLeaseMs?: number;
}

/** How revocations travel in this deployment (SPEC §4), built once by services.ts. */
export interface RevocationRuntime {
  /** The in-process mirror with its cursor and listeners. */
  feed: RevocationFeed;
  /** What the domain publishes committed revocations through. */
  publisher: RevocationPublisher;
  listing: RevocationListing;
  /** The check behind /introspect: mirror, then Redis, then `durable` (Postgres) where needed. */
  check(durable: RevocationCheck): RevocationCheck;
  /** Starts the pub/sub subscription, the mirror lease, the Postgres poll and the outbox worker. */
  start(): void;
  /** Does introspection currently answer from the mirror alone (a held mirror lease)? */
  mirrorTrusted(): boolean;
  /** The Redis in use as its servers report it; undefined without Redis. */
  redisState(): Promise<RedisState | undefined>;
  /** The Redis command connection, for other shared state (rate limits); undefined without Redis. */
  readonly redis: RedisCommandClient | undefined;
  close(): Promise<void>;
}

/**
 * With Redis: entries go to Redis (keys + channel) before a revoking call
 * answers, every instance's mirror follows the channel and polls Postgres,
 * and an outbox worker replays what Redis missed. Without: the in-process
 * publisher, and (on Postgres, where other instances may run) introspection
 * falls back to Postgres on a mirror miss. Loads the mirror before returning.
 */
export async function createRevocationRuntime(opts: RevocationRuntimeOptions): Promise<RevocationRuntime> {
  const { db, outbox, clock, log } = opts;
  const feed = new RevocationFeed();
  const redisLog = throttled((err) => log.error({ err }, "redis unavailable: revocations go to Postgres and are replayed later"));
  const periodic: Periodic[] = [];
  let redis: RedisConnections | undefined;
  let shared: RedisRevocationStore | undefined;
  let publisher: RevocationPublisher;
  let deliver: (entries: readonly StoredRevocation[], now: Date) => Promise<void>;
  const selfId = randomUUID();
  const mirror = new MirrorSync({ feed, log: outbox, clock });
  /** With Redis: this instance's mirror lease, and the revoker's wait on everyone else's. */
  let leasing: { store: RedisLeaseStore; waiter: AckWaiter; lease: MirrorLease } | undefined;

  if (opts.redis) {
    redis = openRedis(opts.redis, { onError: redisLog });
    const channels = revocationChannels(opts.keyPrefix, redis.bus.sharded);
    const store = createRedisRevocationStore({
      redis: redis.command,
      bus: redis.bus,
      channel: channels.events,
      prefix: opts.keyPrefix,
      lookupTimeoutMs: 500,
      writeTimeoutMs: 2_000,
    });
    shared = store;
    const leaseMs = opts.mirrorLeaseMs ?? 2_000;
    const leaseStore = createRedisLeaseStore(redis.command, redis.bus, channels, opts.keyPrefix, selfId);
    const waiter = new AckWaiter({ selfId, registry: leaseStore, leaseMs, onError: redisLog });
    const lease = new MirrorLease({
      bus: leaseStore,
      catchUp: () => mirror.poll(),
      leaseMs,
      renewEveryMs: Math.max(50, Math.floor(leaseMs / 4)),
      marginMs: Math.max(20, Math.floor(leaseMs / 8)),
      fenceTimeoutMs: Math.max(50, Math.floor(leaseMs / 4)),
      onError: redisLog,
    });
    leasing = { store: leaseStore, waiter, lease };
    deliver = (entries, now) => store.write(entries, now);
    publisher = createRedisPublisher({
      feed,
      deliver: (entries, now, ack) => store.write(entries, now, ack),
      acks: { selfId, waiter },
      outbox,
      clock,
      undeliveredDelayMs: opts.pollMs + 250,
      onError: redisLog,
    });
  } else {
    deliver = async (entries, now) => feed.learn(entries, now.getTime());
    const local = createLocalPublisher(feed.list, outbox, clock, (err) => log.error({ err }, "revocation publish failed"));
    publisher = withFeed(local, feed, clock);
  }

  try {
    await mirror.load();
  } catch (err) {
    await redis?.close().catch(() => {});
    throw err;
  }
  const lease = leasing?.lease;
  let stopRepublish = () => {};

  return {
    feed,
    publisher,
    redis: redis?.command,
    listing: new RevocationListing({ log: outbox, clock }),
    check(durable) {
      return layeredRevocationCheck({
        mirror: feed.list,
        clock,
        shared,
        // Embedded is one process that revokes through its own mirror: the mirror is the whole list.
        durable: shared || db.kind === "postgres" ? durable : undefined,
        onSharedError: redisLog,
        ...(lease ? { mirrorTrusted: () => lease.trusted() } : {}),
      });
    },
    mirrorTrusted() {
      return lease?.trusted() ?? false;
    },
    start() {
      const republishLive = async () => {
        let after = 0n;
        for (;;) {
          const now = clock.now();
          const page = await outbox.liveSince(now, after, 1_000);
          if (page.length === 0) return;
          await deliver(page, now);
          after = page.at(-1)!.id;
        }
      };
      periodic.push(
        startPeriodic(
          () => mirror.poll(),
          opts.pollMs,
          (err) => log.error({ err }, "revocation poll failed"),
        ),
      );
      const worker = createOutboxWorker({
        outbox,
        deliver,
        clock,
        async withLock(fn) {
          await db.withAdvisoryLock("revocation-outbox", fn, { wait: false });
        },
      });
      const drain = startPeriodic(
        () => worker.drain(),
        opts.outboxIntervalMs,
        shared ? redisLog : (err) => log.error({ err }, "revocation outbox failed"),
      );
      periodic.push(drain);
      if (redis && shared && leasing) {
        const { channel } = shared;
        const { store: leaseStore, waiter, lease } = leasing;
        const { fenceChannel, ackChannel } = leaseStore;
        redis.bus.onMessage((ch, message) => {
          if (ch === channel) {
            const { entries, ack } = parseRevocationEnvelope(message);
            // Learned first, acknowledged after: the publisher's wait ends only once this mirror has it.
            feed.learn(entries, clock.now().getTime());
            if (ack && ack.to !== selfId) void leaseStore.acknowledge(ack.to, ack.tag).catch(redisLog);
          } else if (ch === fenceChannel) {
            lease.fenceReceived(message);
          } else if (ch === ackChannel) {
            const space = message.indexOf(" ");
            if (space > 0) waiter.acknowledged(message.slice(0, space), message.slice(space + 1));
          }
        });
        // Messages published while the subscription is down are lost: stop trusting the mirror at once.
        redis.bus.onLost(() => lease.subscriptionLost());
        // One subscription: the fence channel is live exactly when the revocation channel is.
        // The first lease round waits for the subscription, so its fence is not lost.
        redis.bus
          .subscribe([channel, fenceChannel, ackChannel])
          .catch(redisLog)
          .finally(() => lease.start());
        // Redis is back: replay what it missed now rather than at the next tick.
        // A server that restarted without persistence, or a replica promoted
        // before it had every write, lacks entries delivered earlier: write
        // every live one again (idempotent: the store keeps the larger value
        // and the longer TTL).
        const republish = untilDone(republishLive, redisLog);
        stopRepublish = republish.stop;
        redis.onAvailable((renewed) => {
          drain.kick();
          if (renewed) republish.run();
        });
      }
    },
    async redisState() {
      return redis?.state();
    },
    async close() {
      stopRepublish();
      await lease?.stop();
      await Promise.all(periodic.splice(0).map((p) => p.stop()));
      await redis?.close();
    },
  };
}

/** Logs a recurring failure at most every 30 s, so an outage does not flood the log. */
function throttled(fn: (err: unknown) => void, everyMs = 30_000): (err: unknown) => void {
  let last = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < everyMs) return;
    last = now;
    fn(err);
  };
}

/**
 * Runs `fn` once at a time until it succeeds: a call while it runs asks for
 * one more run after it, and a failure tries again later (a Cluster node may
 * rejoin the pool before it takes writes). `stop()` ends the retries.
 */
function untilDone(fn: () => Promise<void>, onError: (err: unknown) => void, retryMs = 1_000): { run(): void; stop(): void } {
  let running = false;
  let again = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    clearTimeout(timer);
    running = true;
    again = false;
    void fn().then(
      () => {
        running = false;
        if (again) run();
      },
      (err: unknown) => {
        running = false;
        onError(err);
        timer = setTimeout(run, retryMs);
        timer.unref();
      },
    );
  };
  return {
    run,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
