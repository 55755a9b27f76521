import type { Clock } from "../domain/clock.js";
import { RateLimitedError } from "../domain/errors.js";
import type { AttemptKey, AttemptLimiter, FailureOutcome } from "./attempt-limiter.js";
import { familyOf } from "./attempt-limiter.js";
import type { BackoffOverrides } from "./backoff-policy.js";
import { resolvePolicies, retryAfterSeconds } from "./backoff-policy.js";
import type { LimiterOperation, RedisClient } from "./redis-support.js";
import { LuaScript, withTimeout } from "./redis-support.js";

// recordFailure() from backoff-policy.ts, line for line. Time comes in as an
// argument (the caller's clock), not from TIME: tests move it without
// sleeping, and instances compare blocks against the same kind of clock they
// set them with. Skew between instances shifts a block by the skew, no more.
// The hash holds n (failures), b (blocked until) and r (reset at); its TTL
// ends at r, so nothing outlives its window.
const FAIL = new LuaScript(`
local now = tonumber(ARGV[1])
local free, window, base, cap = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local s = redis.call("HMGET", KEYS[1], "n", "b", "r")
local failures, blocked = 0, 0
if s[3] and now < tonumber(s[3]) then
  failures, blocked = tonumber(s[1]), tonumber(s[2])
end
failures = failures + 1
if failures > free then
  blocked = math.max(blocked, now + math.min(base * 2 ^ (failures - free - 1), cap))
end
local reset = math.max(now, blocked) + window
redis.call("HSET", KEYS[1], "n", failures, "b", blocked, "r", reset)
redis.call("PEXPIRE", KEYS[1], reset - now)
return blocked
`);

export interface RedisAttemptLimiterOptions {
  redis: RedisClient;
  clock: Clock;
  /** Told of every Redis failure the limiter absorbs (log it; it is not rethrown). */
  onError: (err: unknown, operation: LimiterOperation) => void;
  policies?: BackoffOverrides;
  /** Prepended to every key (default "sa:attempts:"). */
  keyPrefix?: string;
  /** How long to wait for Redis before failing open (default 250 ms). */
  commandTimeoutMs?: number;
  /** Used while Redis is unreachable, e.g. an in-process limiter: per-instance limits beat none. */
  fallback?: AttemptLimiter;
}

/**
 * The limiter shared by every instance (SPEC §8).
 *
 * When Redis fails it fails open: a limiter error lets the attempt through
 * (to `fallback` if given) and goes to `onError`. The limiter is a second
 * line of defence — every guess still pays a memory-hard password hash — and
 * failing closed would turn a Redis outage, or anyone able to slow Redis
 * down, into a lockout of every user; failing with a 5xx would do the same.
 */
export function createRedisAttemptLimiter(options: RedisAttemptLimiterOptions): AttemptLimiter {
  const { redis, clock, onError, fallback } = options;
  const policies = resolvePolicies(options.policies);
  const prefix = options.keyPrefix ?? "sa:attempts:";
  const timeoutMs = options.commandTimeoutMs ?? 250;

  return {
    async check(keys, gated = []) {
      const now = clock.now().getTime();
      let blockedUntil: Array<string | null>;
      let gates: Array<string | null>;
      try {
        // Issued together, so one round trip; one command per key, so no
        // cross-slot command reaches a Cluster. A gate's hash exists only
        // while its failures are live (its TTL ends with its window).
        [blockedUntil, gates] = await withTimeout(
          Promise.all([
            Promise.all([...keys, ...gated.map((g) => g.key)].map((k) => redis.hget(prefix + k, "b"))),
            Promise.all(gated.map((g) => redis.hget(prefix + g.gate, "n"))),
          ]),
          timeoutMs,
        );
      } catch (err) {
        onError(err, "check");
        return fallback?.check(keys, gated);
      }
      const counted = blockedUntil.filter((_, i) => i < keys.length || Number(gates[i - keys.length] ?? 0) > 0);
      const wait = Math.max(0, ...counted.map((b) => retryAfterSeconds(Number(b ?? 0), now)));
      if (wait > 0) throw new RateLimitedError(wait);
    },

    async fail(keys) {
      const now = clock.now().getTime();
      const unique = [...new Set<AttemptKey>(keys)];
      // Outside the try: a malformed key is a bug to surface, not an outage to absorb.
      const calls = unique.map((k) => {
        const p = policies[familyOf(k)];
        return { key: prefix + k, args: [now, p.freeFailures, p.windowMs, p.baseBlockMs, p.maxBlockMs] };
      });
      let blockedUntil: unknown[];
      try {
        blockedUntil = await withTimeout(Promise.all(calls.map((c) => FAIL.run(redis, c.key, c.args))), timeoutMs);
      } catch (err) {
        onError(err, "fail");
        return fallback?.fail(keys) ?? { blocked: [], retryAfterSeconds: 0 };
      }
      const outcome: FailureOutcome = { blocked: [], retryAfterSeconds: 0 };
      unique.forEach((key, i) => {
        const wait = retryAfterSeconds(Number(blockedUntil[i]), now);
        if (wait > 0) outcome.blocked.push(key);
        outcome.retryAfterSeconds = Math.max(outcome.retryAfterSeconds, wait);
      });
      return outcome;
    },

    async succeed(keys) {
      try {
        await withTimeout(Promise.all(keys.map((k) => redis.unlink(prefix + k))), timeoutMs);
      } catch (err) {
        onError(err, "succeed");
      }
      await fallback?.succeed(keys);
    },
  };
}
