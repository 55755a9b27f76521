/**
 * A ceiling on requests per key (SPEC §6: per service client, off by
 * default; also fit for the generous per-IP ceiling on successful logins).
 * A token bucket: `burst` requests at once, refilled at `perSecond`.
 */
export interface RequestCeiling {
  /** Spends one request of the key's allowance; throws `RateLimitedError` when none is left. */
  take(key: string): Promise<void>;
}

/** The default: no ceiling (introspection is a hot path siblings call at full speed). */
export const unlimitedCeiling: RequestCeiling = { take: async () => {} };

export interface CeilingPolicy {
  /** Requests allowed at once: the bucket's size. */
  burst: number;
  /** Sustained requests per second: the refill rate. */
  perSecond: number;
}

export function validateCeiling(policy: CeilingPolicy): CeilingPolicy {
  if (!Number.isSafeInteger(policy.burst) || policy.burst < 1 || !(policy.perSecond > 0) || !Number.isFinite(policy.perSecond)) {
    throw new RangeError(`invalid request ceiling: ${JSON.stringify(policy)}`);
  }
  return Object.freeze({ ...policy });
}

export interface BucketState {
  tokens: number;
  /** Epoch milliseconds of `tokens`. */
  at: number;
}

export interface TakeResult {
  state: BucketState;
  /** 0 when a token was taken; otherwise how long until one is there. */
  retryAfterMs: number;
  /** When the bucket is full again, so its state can be forgotten. */
  fullInMs: number;
}

/** One take at `now`. The Redis script (redis-request-ceiling.ts) is a line-for-line copy. */
export function takeToken(state: BucketState | undefined, policy: CeilingPolicy, now: number): TakeResult {
  let tokens = policy.burst;
  // max(0, …): a clock that steps back (another instance's) must not drain the bucket.
  if (state !== undefined) tokens = Math.min(policy.burst, state.tokens + (Math.max(0, now - state.at) * policy.perSecond) / 1000);
  let retryAfterMs = 0;
  if (tokens >= 1) tokens -= 1;
  else retryAfterMs = Math.ceil(((1 - tokens) * 1000) / policy.perSecond);
  const fullInMs = Math.max(1, Math.ceil(((policy.burst - tokens) * 1000) / policy.perSecond));
  return { state: { tokens, at: now }, retryAfterMs, fullInMs };
}
