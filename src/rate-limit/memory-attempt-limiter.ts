import type { Clock } from "../domain/clock.js";
import { RateLimitedError } from "../domain/errors.js";
import type { AttemptKey, AttemptLimiter, FailureOutcome } from "./attempt-limiter.js";
import { familyOf } from "./attempt-limiter.js";
import type { AttemptState, BackoffOverrides } from "./backoff-policy.js";
import { recordFailure, resolvePolicies, retryAfterSeconds } from "./backoff-policy.js";
import { BoundedMap } from "./bounded-map.js";

export interface MemoryAttemptLimiterOptions {
  clock: Clock;
  policies?: BackoffOverrides;
  /** Keys remembered at most (default 100 000, a few tens of MB at worst). */
  maxEntries?: number;
}

export interface MemoryAttemptLimiter extends AttemptLimiter {
  /** Keys currently remembered (for a gauge; never above `maxEntries`). */
  readonly size: number;
}

/** One process's limiter: for a single instance, tests, or as the Redis limiter's fallback. */
export function createMemoryAttemptLimiter(options: MemoryAttemptLimiterOptions): MemoryAttemptLimiter {
  const { clock } = options;
  const policies = resolvePolicies(options.policies);
  const states = new BoundedMap<AttemptState>(options.maxEntries ?? 100_000);

  const live = (key: string, now: number): AttemptState | undefined => {
    const s = states.get(key);
    if (s !== undefined && now >= s.resetAt) {
      states.delete(key);
      return undefined;
    }
    return s;
  };

  return {
    get size() {
      return states.size;
    },

    async check(keys, gated = []) {
      const now = clock.now().getTime();
      let wait = 0;
      for (const key of keys) wait = Math.max(wait, retryAfterSeconds(live(key, now)?.blockedUntil ?? 0, now));
      for (const { key, gate } of gated) {
        if ((live(gate, now)?.failures ?? 0) > 0) wait = Math.max(wait, retryAfterSeconds(live(key, now)?.blockedUntil ?? 0, now));
      }
      if (wait > 0) throw new RateLimitedError(wait);
    },

    async fail(keys) {
      const now = clock.now().getTime();
      const outcome: FailureOutcome = { blocked: [], retryAfterSeconds: 0 };
      for (const key of new Set<AttemptKey>(keys)) {
        const next = recordFailure(live(key, now), policies[familyOf(key)], now);
        states.set(key, next);
        const wait = retryAfterSeconds(next.blockedUntil, now);
        if (wait > 0) outcome.blocked.push(key);
        outcome.retryAfterSeconds = Math.max(outcome.retryAfterSeconds, wait);
      }
      return outcome;
    },

    async succeed(keys) {
      for (const key of keys) states.delete(key);
    },
  };
}
