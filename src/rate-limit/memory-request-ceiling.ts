import type { Clock } from "../domain/clock.js";
import { RateLimitedError } from "../domain/errors.js";
import { BoundedMap } from "./bounded-map.js";
import type { BucketState, CeilingPolicy, RequestCeiling } from "./request-ceiling.js";
import { takeToken, validateCeiling } from "./request-ceiling.js";

export interface MemoryRequestCeilingOptions {
  clock: Clock;
  policy: CeilingPolicy;
  /** Buckets remembered at most (default 100 000); a forgotten bucket is a full one. */
  maxEntries?: number;
}

export interface MemoryRequestCeiling extends RequestCeiling {
  /** Buckets currently remembered (never above `maxEntries`). */
  readonly size: number;
}

export function createMemoryRequestCeiling(options: MemoryRequestCeilingOptions): MemoryRequestCeiling {
  const policy = validateCeiling(options.policy);
  const buckets = new BoundedMap<BucketState>(options.maxEntries ?? 100_000);
  return {
    get size() {
      return buckets.size;
    },
    async take(key) {
      const { state, retryAfterMs } = takeToken(buckets.get(key), policy, options.clock.now().getTime());
      buckets.set(key, state);
      if (retryAfterMs > 0) throw new RateLimitedError(Math.ceil(retryAfterMs / 1000));
    },
  };
}
