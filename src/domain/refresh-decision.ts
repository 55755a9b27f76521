import type { RefreshTokenRecord } from "./types.js";

export type RefreshDecision =
  /** First use of a live token: consume it and issue a successor. */
  | { action: "rotate" }
  /** A retry or concurrent tab within the grace window: hand back the same successor. */
  | { action: "replay" }
  /** Rotated before the grace window: treat as theft, revoke the session. */
  | { action: "reuse" }
  /** Past its own expiry and never used: refuse, but it is no sign of theft. */
  | { action: "expired" };

/**
 * The rotation rule of SPEC §3, as a pure function of the token row (read
 * under the session's row lock), the time and the grace window. The grace
 * is measured to when the request *arrived*: a retry that waited in a queue
 * under load is still a retry, not theft. One that arrived before the
 * rotation committed (a concurrent tab) is inside it too.
 */
export function decideRefresh(
  token: Pick<RefreshTokenRecord, "rotatedAt" | "expiresAt" | "successorSealed">,
  now: Date,
  arrivedAt: Date,
  graceMs: number,
): RefreshDecision {
  if (token.rotatedAt === null) {
    return now < token.expiresAt ? { action: "rotate" } : { action: "expired" };
  }
  const sinceRotation = arrivedAt.getTime() - token.rotatedAt.getTime();
  if (sinceRotation <= graceMs && token.successorSealed !== null) return { action: "replay" };
  return { action: "reuse" };
}
