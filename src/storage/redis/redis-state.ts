import type { Cluster, Redis } from "ioredis";
import type { RedisTopology } from "../../config.js";
import { withTimeout } from "../../rate-limit/redis-support.js";

/** What /readyz and the `redis` metrics report (SPEC §8: the real state of the Redis in use). */
export interface RedisState {
  mode: RedisTopology["kind"];
  /** False when any master serving data does not answer (or none is known). */
  ok: boolean;
  /** The masters that serve data (one outside a Cluster) and whether each answered. */
  masters: Array<{ address: string; reachable: boolean }>;
  /** Sentinel: the replicas the current master reports connected. */
  replicas?: number;
}

const PROBE_MS = 1_000;

/** Asks the servers themselves; bounded, so a silent network cannot stall /readyz. */
export async function probeRedis(topology: RedisTopology, command: Redis | Cluster): Promise<RedisState> {
  if (topology.kind === "cluster") return probeCluster(command as Cluster);
  const redis = command as Redis;
  const configured = topology.kind === "standalone" ? `${redis.options.host}:${redis.options.port}` : undefined;
  try {
    const info = await withTimeout(redis.info("replication"), PROBE_MS);
    // With Sentinel the address is wherever the sentinels sent this connection.
    const address = configured ?? `${redis.stream?.remoteAddress}:${redis.stream?.remotePort}`;
    const role = /^role:(\w+)/m.exec(info)?.[1];
    const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    return {
      mode: topology.kind,
      ok: role === "master",
      masters: [{ address, reachable: true }],
      ...(topology.kind === "sentinel" ? { replicas } : {}),
    };
  } catch {
    return { mode: topology.kind, ok: false, masters: configured ? [{ address: configured, reachable: false }] : [] };
  }
}

/**
 * CLUSTER NODES from any node names the masters that own slots; each counts
 * as reachable when the cluster does not flag it failing and it answers a
 * PING itself.
 */
async function probeCluster(cluster: Cluster): Promise<RedisState> {
  const pool = new Map(cluster.nodes("master").map((n) => [`${n.options.host}:${n.options.port}`, n]));
  let text: string;
  try {
    // The first node to answer: any one of them may be the master that is away.
    text = String(await Promise.any([...pool.values()].map((n) => withTimeout(n.cluster("NODES"), PROBE_MS))));
  } catch {
    return { mode: "cluster", ok: false, masters: [] };
  }
  const masters = await Promise.all(
    text
      .split("\n")
      .map((line) => line.trim().split(" "))
      .filter((f) => f.length >= 9 && f[2]!.split(",").includes("master"))
      .map(async (f) => {
        const address = f[1]!.split("@")[0]!;
        const flagged = f[2]!.split(",").some((flag) => flag === "fail" || flag === "fail?");
        const node = pool.get(address);
        const answers =
          !flagged &&
          node !== undefined &&
          (await withTimeout(node.ping(), PROBE_MS).then(
            () => true,
            () => false,
          ));
        return { address, reachable: answers };
      }),
  );
  masters.sort((a, b) => a.address.localeCompare(b.address));
  return { mode: "cluster", ok: masters.length > 0 && masters.every((m) => m.reachable), masters };
}
