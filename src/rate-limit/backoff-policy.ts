import type { AttemptFamily } from "./attempt-limiter.js";

/** How one key family is throttled. Durations in milliseconds. */
export interface BackoffPolicy {
  /** Failures allowed within the window before any block. */
  freeFailures: number;
  /** Failures are forgotten this long after the last failure or the end of the last block, whichever is later. */
  windowMs: number;
  /** The first block; each further failure doubles it. */
  baseBlockMs: number;
  /** No block lasts longer than this. */
  maxBlockMs: number;
}

export type BackoffPolicies = Readonly<Record<AttemptFamily, BackoffPolicy>>;

const SECOND = 1000;
const MINUTE = 60 * SECOND;

const userPolicy: BackoffPolicy = { freeFailures: 5, windowMs: 15 * MINUTE, baseBlockMs: SECOND, maxBlockMs: 15 * MINUTE };
// Addresses are shared (NAT, offices, proxies): more room before blocking.
const ipPolicy: BackoffPolicy = { freeFailures: 20, windowMs: 15 * MINUTE, baseBlockMs: SECOND, maxBlockMs: 15 * MINUTE };

export const DEFAULT_BACKOFF_POLICIES: BackoffPolicies = Object.freeze({
  "login:user": userPolicy,
  "login:user-ip": userPolicy,
  "login:ip": ipPolicy,
  "refresh:ip": ipPolicy,
  client: userPolicy,
  "client-ip": ipPolicy,
});

/** Overrides on the defaults, validated; what config maps env vars onto. */
export type BackoffOverrides = Partial<Record<AttemptFamily, Partial<BackoffPolicy>>>;

export function resolvePolicies(overrides: BackoffOverrides = {}): BackoffPolicies {
  const out = {} as Record<AttemptFamily, BackoffPolicy>;
  for (const [family, base] of Object.entries(DEFAULT_BACKOFF_POLICIES) as Array<[AttemptFamily, BackoffPolicy]>) {
    const p = { ...base, ...overrides[family] };
    const whole = (n: number, min: number) => Number.isSafeInteger(n) && n >= min;
    if (!whole(p.freeFailures, 0) || !whole(p.windowMs, 1) || !whole(p.baseBlockMs, 1) || !whole(p.maxBlockMs, p.baseBlockMs)) {
      throw new RangeError(`invalid backoff policy for ${family}: ${JSON.stringify(p)}`);
    }
    out[family] = Object.freeze(p);
  }
  return Object.freeze(out);
}

/** What is remembered per key. Times are epoch milliseconds. */
export interface AttemptState {
  failures: number;
  /** 0 when the key has never been blocked in this window. */
  blockedUntil: number;
  /** When the state is forgotten. */
  resetAt: number;
}

/**
 * The state after one more failure at `now`. The Redis script
 * (redis-attempt-limiter.ts) is a line-for-line copy; the contract suite
 * holds them to the same results.
 */
export function recordFailure(state: AttemptState | undefined, policy: BackoffPolicy, now: number): AttemptState {
  const live = state !== undefined && now < state.resetAt;
  const failures = (live ? state.failures : 0) + 1;
  let blockedUntil = live ? state.blockedUntil : 0;
  if (failures > policy.freeFailures) {
    // 2^k overflows to Infinity long before k is large enough to matter; min() caps it.
    const blockMs = Math.min(policy.baseBlockMs * 2 ** (failures - policy.freeFailures - 1), policy.maxBlockMs);
    blockedUntil = Math.max(blockedUntil, now + blockMs);
  }
  // Measured from the end of the block too, or waiting out a long block would also wipe the count.
  return { failures, blockedUntil, resetAt: Math.max(now, blockedUntil) + policy.windowMs };
}

/** Whole seconds to wait, for Retry-After (at least 1 while blocked); 0 if not blocked. */
export function retryAfterSeconds(blockedUntil: number, now: number): number {
  return blockedUntil > now ? Math.max(1, Math.ceil((blockedUntil - now) / 1000)) : 0;
}
