import { Redis, type RedisOptions } from "ioredis";

export interface RedisConnections {
  /** Commands: the introspection look-up and the revocation writes. */
  command: Redis;
  /** Pub/sub needs a connection of its own. */
  subscriber: Redis;
  close(): Promise<void>;
}

export interface RedisConnectionOptions {
  /** Longest wait for a reply before a command counts as failed (the caller then falls back to Postgres). */
  commandTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Opens the two connections to REDIS_URL (ioredis: a single server, or
 * Sentinel/Cluster by URL). Neither blocks start-up: the service starts
 * degraded and ioredis keeps reconnecting (SPEC §1: losing Redis loses no data).
 */
export function openRedis(url: string, opts: RedisConnectionOptions = {}): RedisConnections {
  const common: RedisOptions = {
    lazyConnect: false,
    connectTimeout: 2_000,
    // Reconnect quickly: a returning Redis should be used again within a second or so.
    retryStrategy: (times) => Math.min(100 * times, 1_000),
  };
  const command = new Redis(url, {
    ...common,
    // Fail at once while disconnected instead of queueing: introspection then
    // asks Postgres, and an undelivered revocation stays in the outbox.
    enableOfflineQueue: false,
    // Concurrent introspections' MGETs leave in one write instead of one each.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    commandTimeout: opts.commandTimeoutMs ?? 500,
  });
  // Connects on its first SUBSCRIBE: one-shot CLI commands never open it.
  const subscriber = new Redis(url, { ...common, lazyConnect: true, autoResubscribe: true, maxRetriesPerRequest: null });
  // Without listeners ioredis reports every failed reconnect as unhandled.
  const onError = opts.onError ?? (() => {});
  command.on("error", onError);
  subscriber.on("error", onError);
  return {
    command,
    subscriber,
    async close() {
      subscriber.disconnect();
      if (command.status === "ready") await command.quit().catch(() => command.disconnect());
      else command.disconnect();
    },
  };
}
