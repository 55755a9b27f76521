import type { Clock } from "../domain/clock.js";
import { RateLimitedError } from "../domain/errors.js";
import type { CeilingPolicy, RequestCeiling } from "./request-ceiling.js";
import { validateCeiling } from "./request-ceiling.js";
import type { LimiterOperation, RedisClient } from "./redis-support.js";
import { LuaScript, withTimeout } from "./redis-support.js";

// takeToken() from request-ceiling.ts, line for line; `now` is the caller's
// clock (see redis-attempt-limiter.ts). The hash (t tokens, a at) expires
// when the bucket would be full again, which is the same as forgetting it.
const TAKE = new LuaScript(`
local now, burst, rate = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local s = redis.call("HMGET", KEYS[1], "t", "a")
local tokens = burst
if s[1] and s[2] then
  tokens = math.min(burst, tonumber(s[1]) + (math.max(0, now - tonumber(s[2])) * rate) / 1000)
end
local retry = 0
if tokens >= 1 then tokens = tokens - 1 else retry = math.ceil(((1 - tokens) * 1000) / rate) end
redis.call("HSET", KEYS[1], "t", string.format("%.17g", tokens), "a", now)
redis.call("PEXPIRE", KEYS[1], math.max(1, math.ceil(((burst - tokens) * 1000) / rate)))
return retry
`);

export interface RedisRequestCeilingOptions {
  redis: RedisClient;
  clock: Clock;
  policy: CeilingPolicy;
  /** Told of every Redis failure; the request is let through (see createRedisAttemptLimiter). */
  onError: (err: unknown, operation: LimiterOperation) => void;
  /** Prepended to every key (default "sa:ceiling:"). */
  keyPrefix?: string;
  /** How long to wait for Redis before failing open (default 250 ms). */
  commandTimeoutMs?: number;
}

/** The ceiling shared by every instance; fails open, like the attempt limiter. */
export function createRedisRequestCeiling(options: RedisRequestCeilingOptions): RequestCeiling {
  const { redis, clock, onError } = options;
  const policy = validateCeiling(options.policy);
  const prefix = options.keyPrefix ?? "sa:ceiling:";
  const timeoutMs = options.commandTimeoutMs ?? 250;
  return {
    async take(key) {
      let retryAfterMs: number;
      try {
        const now = clock.now().getTime();
        retryAfterMs = Number(await withTimeout(TAKE.run(redis, prefix + key, [now, policy.burst, policy.perSecond]), timeoutMs));
      } catch (err) {
        onError(err, "take");
        return;
      }
      if (retryAfterMs > 0) throw new RateLimitedError(Math.ceil(retryAfterMs / 1000));
    },
  };
}
