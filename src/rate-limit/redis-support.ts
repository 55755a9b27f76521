import { createHash } from "node:crypto";
import type { Cluster, Redis } from "ioredis";

/** A standalone, Sentinel-backed or Cluster client. */
export type RedisClient = Redis | Cluster;

/** Which call a Redis failure was absorbed in, for the `onError` log line. */
export type LimiterOperation = "check" | "fail" | "succeed" | "take";

/**
 * A Lua script run by EVALSHA, loaded with EVAL when the server answers
 * NOSCRIPT (after a restart or failover, or on a Cluster node that has not
 * seen it yet). Each script touches only KEYS[1], so Cluster never sees a
 * cross-slot call.
 */
export class LuaScript {
  readonly sha: string;

  constructor(readonly source: string) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: RedisClient, key: string, args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await redis.evalsha(this.sha, 1, key, ...args);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith("NOSCRIPT")) throw err;
      return redis.eval(this.source, 1, key, ...args);
    }
  }
}

export class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`redis did not answer within ${ms} ms`);
    this.name = "RedisTimeoutError";
  }
}

/**
 * Resolves as `work` does, or rejects after `ms`. While ioredis reconnects it
 * queues commands rather than failing them, so without a bound a Redis outage
 * would hang every login instead of letting the limiter fail open.
 */
export function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(ms)), ms);
    timer.unref();
  });
  work.catch(() => {}); // a late rejection after the timeout is not unhandled
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
