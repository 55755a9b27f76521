import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import type { Scope } from "./scope.js";

export const redisUrl = (): string => process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix no one else uses; its keys are deleted when the scope closes. */
export function scratchRedisPrefix(scope: Scope, label: string): string {
  const prefix = `sa-bench:${label}:${process.pid}:${randomBytes(3).toString("hex")}:`;
  scope.defer(`redis keys ${prefix}*`, () => deleteKeys(prefix));
  return prefix;
}

async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl(), { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
