import { Redis, type Cluster, type RedisOptions } from "ioredis";

/**
 * Publish/subscribe as the revocation fan-out and the mirror lease need it:
 * every channel an instance listens on is served by one connection to one
 * server, so that server's publish order holds across them
 * (revocation/mirror-lease.ts relies on it).
 */
export interface RedisBus {
  /** True for sharded pub/sub (Cluster): channel names must then share one hash slot. */
  readonly sharded: boolean;
  publish(channel: string, message: string): Promise<void>;
  /** Subscribes once; resubscribes by itself after every drop. */
  subscribe(channels: string[]): Promise<void>;
  onMessage(listener: (channel: string, message: string) => void): void;
  /** The subscription dropped: messages published until it is back are lost. */
  onLost(listener: () => void): void;
  close(): void;
}

/** One server (or the Sentinel group's master): PUBLISH and SUBSCRIBE. */
export function createClassicBus(command: Redis, subscriber: Redis): RedisBus {
  return {
    sharded: false,
    async publish(channel, message) {
      await command.publish(channel, message);
    },
    async subscribe(channels) {
      await subscriber.subscribe(...channels);
    },
    onMessage: (l) => void subscriber.on("message", l),
    onLost(l) {
      for (const event of ["close", "reconnecting", "end"]) subscriber.on(event, l);
    },
    close: () => subscriber.disconnect(),
  };
}

/**
 * A Cluster: SPUBLISH and SSUBSCRIBE. Classic pub/sub there forwards every
 * message over the cluster bus from whichever node took it, so a revocation
 * and a later fence published through two nodes may arrive in either order;
 * sharded channels of one hash slot all live on the master of that slot,
 * which orders them as a single server does. The subscription is a
 * connection of its own to that master, moved whenever the slot's owner
 * changes (failover, a node back, a migration).
 */
export function createShardedBus(cluster: Cluster, nodeOptions: RedisOptions, onError: (err: unknown) => void): RedisBus {
  const messageListeners: Array<(channel: string, message: string) => void> = [];
  const lostListeners: Array<() => void> = [];
  let channels: string[] = [];
  let slot: number | undefined;
  let stopped = false;
  let conn: Redis | undefined;
  let owner: string | undefined;
  let retry: NodeJS.Timeout | undefined;
  let watch: NodeJS.Timeout | undefined;
  let attempts = 0;

  const lost = () => {
    for (const l of lostListeners) l();
  };
  const ownerOf = (): string | undefined => (slot === undefined ? undefined : cluster.slots[slot]?.[0]);

  /** Connects and subscribes; on any failure tries again until closed. */
  const connect = async (): Promise<void> => {
    if (stopped) return;
    if (slot === undefined) {
      const s = await cluster.cluster("KEYSLOT", channels[0]!).catch(() => null);
      if (typeof s === "number") slot = s;
    }
    const node = ownerOf();
    if (!node) {
      scheduleRetry();
      throw new Error("no master serves the revocation channels' slot yet");
    }
    const colon = node.lastIndexOf(":");
    const c = new Redis({
      ...nodeOptions,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      lazyConnect: true,
      // Reconnection is this bus's: the slot may have a new owner by then.
      retryStrategy: () => null,
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      commandTimeout: undefined,
    });
    conn = c;
    owner = node;
    c.on("error", onError);
    c.on("smessage", (channel: string, message: string) => {
      for (const l of messageListeners) l(channel, message);
    });
    c.once("close", () => {
      if (conn !== c) return;
      conn = undefined;
      lost();
      scheduleRetry();
    });
    try {
      await c.connect();
      await c.ssubscribe(...channels);
      attempts = 0;
    } catch (err) {
      c.disconnect(); // the close handler schedules the next attempt
      throw err;
    }
  };

  const scheduleRetry = () => {
    if (retry || stopped) return;
    const delay = Math.min(100 * 2 ** attempts++, 1_000);
    retry = setTimeout(() => {
      retry = undefined;
      cluster.refreshSlotsCache();
      connect().catch(onError);
    }, delay);
    retry.unref();
  };

  return {
    sharded: true,
    async publish(channel, message) {
      await cluster.spublish(channel, message);
    },
    async subscribe(list) {
      channels = list;
      // The slot's owner moves without closing this connection when its old
      // master comes back as a replica, or the slot migrates: follow it.
      watch = setInterval(() => {
        if (conn && owner !== ownerOf()) conn.disconnect();
      }, 500);
      watch.unref();
      await connect();
    },
    onMessage: (l) => void messageListeners.push(l),
    onLost: (l) => void lostListeners.push(l),
    close() {
      stopped = true;
      clearInterval(watch);
      clearTimeout(retry);
      const c = conn;
      conn = undefined;
      c?.disconnect();
    },
  };
}
