import type { SessionRecord } from "./types.js";

export interface LifetimePolicy {
  accessTokenTtlMs: number;
  refreshTokenTtlMs: number;
  sessionMaxLifetimeMs: number;
}

/** Every rule a session follows (SPEC §3), resolved from the configuration. */
export interface SessionPolicy extends LifetimePolicy {
  refreshReuseGraceMs: number;
  maxSessionsPerUser: number;
  deviceChangePolicy: "revoke" | "flag" | "allow" | "default";
}

export type SessionState = "live" | "revoked" | "idle_expired" | "absolute_expired";

/**
 * A session's validity is a pure function of the row and the time, checked
 * on every use, not only at refresh (docs/lessons.md, "Lifetimes and limits").
 */
export function sessionState(session: Pick<SessionRecord, "revokedAt" | "idleExpiresAt" | "absoluteExpiresAt">, now: Date): SessionState {
  if (session.revokedAt !== null) return "revoked";
  if (now >= session.absoluteExpiresAt) return "absolute_expired";
  if (now >= session.idleExpiresAt) return "idle_expired";
  return "live";
}

const min = (a: Date, b: Date): Date => (a <= b ? a : b);

/** The two lifetimes a refresh slides by. */
export type SlidingLifetimes = Pick<LifetimePolicy, "accessTokenTtlMs" | "refreshTokenTtlMs">;

/**
 * The lifetimes a session's refreshes follow: its own, copied from its
 * application's policy at issue (and rewritten by a policy change), else
 * the service-wide ones. Every rule that reads a session's lifetime reads
 * it through here, so a session never follows another application's.
 */
export function sessionLifetimes(session: Pick<SessionRecord, "accessTtlMs" | "idleTtlMs">, defaults: SlidingLifetimes): SlidingLifetimes {
  return {
    accessTokenTtlMs: session.accessTtlMs ?? defaults.accessTokenTtlMs,
    refreshTokenTtlMs: session.idleTtlMs ?? defaults.refreshTokenTtlMs,
  };
}

/** Expiries of a session created at `now`. */
export function initialExpiries(now: Date, policy: LifetimePolicy) {
  const absoluteExpiresAt = new Date(now.getTime() + policy.sessionMaxLifetimeMs);
  return {
    absoluteExpiresAt,
    ...slidingExpiries(absoluteExpiresAt, now, policy),
  };
}

/**
 * Idle expiry slides to now + REFRESH_TOKEN_TTL, and no token outlives the
 * absolute wall (SPEC §3). An access token issued now expires by the
 * session's idle expiry too (SPEC §2), so a verifier that checks only `exp`
 * never accepts a token of an idle-expired session. `idleExpiresAt` is the
 * expiry the session has after this use: a grace replay does not slide it.
 */
export function slidingExpiries(absoluteExpiresAt: Date, now: Date, policy: SlidingLifetimes, idleExpiresAt?: Date) {
  const idle = idleExpiresAt ?? min(new Date(now.getTime() + policy.refreshTokenTtlMs), absoluteExpiresAt);
  return {
    idleExpiresAt: idle,
    accessExpiresAt: min(new Date(now.getTime() + policy.accessTokenTtlMs), idle),
  };
}

/** Seconds from now until `at`, never negative. */
export const secondsUntil = (at: Date, now: Date): number => Math.max(0, Math.floor((at.getTime() - now.getTime()) / 1000));
