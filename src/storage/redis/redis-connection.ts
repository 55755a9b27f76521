import { readFileSync } from "node:fs";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import type { RedisAuth, RedisTopology } from "../../config.js";
import { withTimeout } from "../../rate-limit/redis-support.js";
import { createClassicBus, createShardedBus, type RedisBus } from "./redis-bus.js";
import { probeRedis, type RedisState } from "./redis-state.js";

export type RedisCommandClient = Redis | Cluster;

export interface RedisConnections {
  readonly kind: RedisTopology["kind"];
  /** Commands: the introspection look-up, the revocation writes, leases, rate limits. */
  command: RedisCommandClient;
  /** Pub/sub on a connection of its own (sharded pub/sub on a Cluster). */
  bus: RedisBus;
  /**
   * Called when Redis can take commands: `renewed` is false the first time,
   * true whenever the servers holding the data may have changed since (a
   * reconnect, a Sentinel failover, a Cluster node back or a replica
   * promoted): they may hold less than was written to them.
   */
  onAvailable(listener: (renewed: boolean) => void): void;
  /** What /readyz and the metrics report: the masters in use and whether each answers. */
  state(): Promise<RedisState>;
  close(): Promise<void>;
}

export interface RedisConnectionOptions {
  /** Longest wait for a reply before a command counts as failed (the caller then falls back to Postgres). */
  commandTimeoutMs?: number;
  onError?: (err: unknown) => void;
}

/**
 * Opens the connections to the configured Redis: one server (REDIS_URL), a
 * Sentinel group (ioredis follows the sentinels to the current master) or a
 * Cluster. Nothing blocks start-up: the service starts degraded and ioredis
 * keeps reconnecting (SPEC §1: losing Redis loses no data).
 */
export function openRedis(topology: RedisTopology, opts: RedisConnectionOptions = {}): RedisConnections {
  const onError = opts.onError ?? (() => {});
  const commandTimeout = opts.commandTimeoutMs ?? 500;
  const common: RedisOptions = {
    connectTimeout: 2_000,
    // Reconnect quickly: a returning Redis should be used again within a second or so.
    retryStrategy: (times) => Math.min(100 * times, 1_000),
  };
  return topology.kind === "cluster"
    ? openCluster(topology, common, commandTimeout, onError)
    : openSingle(topology, common, commandTimeout, onError);
}

function openSingle(
  topology: Exclude<RedisTopology, { kind: "cluster" }>,
  common: RedisOptions,
  commandTimeout: number,
  onError: (err: unknown) => void,
): RedisConnections {
  const target: RedisOptions =
    topology.kind === "standalone"
      ? {}
      : {
          ...authOptions(topology),
          sentinels: topology.sentinels,
          name: topology.masterName,
          sentinelUsername: topology.sentinelUsername,
          sentinelPassword: topology.sentinelPassword,
          enableTLSForSentinelMode: topology.tls,
          ...(topology.tls ? { sentinelTLS: tlsOptions(topology) } : {}),
          // Also told of a failover by the sentinels, not only by a dropped connection.
          failoverDetector: true,
        };
  const make = (extra: RedisOptions) =>
    topology.kind === "standalone" ? new Redis(topology.url, { ...common, ...extra }) : new Redis({ ...common, ...target, ...extra });
  const command = make({
    // Fail at once while disconnected instead of queueing: introspection then
    // asks Postgres, and an undelivered revocation stays in the outbox.
    enableOfflineQueue: false,
    // Concurrent introspections' GETs leave in one write instead of one each.
    enableAutoPipelining: true,
    maxRetriesPerRequest: 0,
    commandTimeout,
  });
  // Connects on its first SUBSCRIBE: one-shot CLI commands never open it.
  const subscriber = make({ lazyConnect: true, autoResubscribe: true, maxRetriesPerRequest: null });
  command.on("error", onError);
  subscriber.on("error", onError);
  const listeners: Array<(renewed: boolean) => void> = [];
  let connectedBefore = false;
  command.on("ready", () => {
    for (const l of listeners) l(connectedBefore);
    connectedBefore = true;
  });
  const bus = createClassicBus(command, subscriber);
  return {
    kind: topology.kind,
    command,
    bus,
    onAvailable: (l) => void listeners.push(l),
    state: () => probeRedis(topology, command),
    async close() {
      bus.close();
      if (command.status === "ready") await withTimeout(command.quit(), 1_000).catch(() => {});
      // Also after QUIT: only disconnect() closes Sentinel's failover-detector connections.
      command.disconnect();
    },
  };
}

function openCluster(
  topology: Extract<RedisTopology, { kind: "cluster" }>,
  common: RedisOptions,
  commandTimeout: number,
  onError: (err: unknown) => void,
): RedisConnections {
  const nodeOptions: RedisOptions = { ...common, ...authOptions(topology), commandTimeout, maxRetriesPerRequest: 0 };
  const options: ClusterOptions = {
    enableOfflineQueue: false,
    enableAutoPipelining: true,
    // A promoted replica or a returning node is found within a second.
    slotsRefreshInterval: 1_000,
    clusterRetryStrategy: (times) => Math.min(100 * times, 1_000),
    redisOptions: nodeOptions,
  };
  const command = new Cluster(topology.nodes, options);
  command.on("error", onError);
  command.on("node error", onError);
  const listeners: Array<(renewed: boolean) => void> = [];
  let ready = false;
  let owners = "";
  const renewed = () => {
    if (ready) for (const l of listeners) l(true);
  };
  command.on("ready", () => {
    owners = slotOwners(command);
    for (const l of listeners) l(ready);
    ready = true;
  });
  // A node (re)joining the pool may have restarted empty.
  command.on("+node", renewed);
  // A replica promoted to master may lack the writes its master had not yet passed on.
  command.on("refresh", () => {
    const now = slotOwners(command);
    if (now === owners) return;
    owners = now;
    renewed();
  });
  const bus = createShardedBus(command, nodeOptions, onError);
  return {
    kind: "cluster",
    command,
    bus,
    onAvailable: (l) => void listeners.push(l),
    state: () => probeRedis(topology, command),
    async close() {
      bus.close();
      // QUIT waits on every node's connection, a reconnecting one too: bounded, then cut.
      await withTimeout(command.quit(), 1_000).catch(() => {});
      command.disconnect();
    },
  };
}

/** The masters serving slots, as one comparable string. */
function slotOwners(cluster: Cluster): string {
  const owners = new Set<string>();
  for (const nodes of cluster.slots) if (nodes?.[0]) owners.add(nodes[0]);
  return [...owners].sort().join(",");
}

function authOptions(auth: RedisAuth): RedisOptions {
  return {
    ...(auth.username ? { username: auth.username } : {}),
    ...(auth.password ? { password: auth.password } : {}),
    ...(auth.tls ? { tls: tlsOptions(auth) } : {}),
  };
}

function tlsOptions(auth: RedisAuth): { ca?: Buffer } {
  return auth.tlsCaFile ? { ca: readFileSync(auth.tlsCaFile) } : {};
}
