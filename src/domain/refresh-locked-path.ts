import { hashToken, newOpaqueToken } from "../crypto/opaque-token.js";
import type { PolicySource } from "./applications.js";
import type { Clock } from "./clock.js";
import { assessDeviceChange } from "./device.js";
import { AppError, invalidGrant, transportMismatch } from "./errors.js";
import type { SessionStore, SessionTx } from "./ports.js";
import { decideRefresh } from "./refresh-decision.js";
import { revokeSessionInTx, type RevocationCommit } from "./revocation-entries.js";
import { sessionLifetimes, sessionState, slidingExpiries, type SlidingLifetimes } from "./session-policy.js";
import { openSuccessor, sealSuccessor } from "./successor.js";
import type { ClientContext, DeviceInfo, RefreshTokenRecord, SessionRecord, Transport } from "./types.js";

/** How deep a replay within the grace window follows the rotation chain. */
const MAX_CHAIN_WALK = 8;

export interface LockedPathDeps {
  sessions: SessionStore;
  clock: Clock;
  /** The service-wide lifetimes, for a session that carries none of its own. */
  policy: SlidingLifetimes;
  /** The grace window and the device-change policy of the session's application. */
  applications: PolicySource;
  parseUserAgent: (userAgent: string | null) => DeviceInfo;
}

export type LockedPathOutcome =
  /** `userNotBefore` was read under the session's lock: the only one the new token may be lifted to. */
  | { kind: "ok"; session: SessionRecord; successor: string; now: Date; userNotBefore: Date | null }
  /** Refused; `revocations` were committed and must be published. */
  | { kind: "fail"; error: AppError; revocations: RevocationCommit };

const refused = (error: AppError, revocations: RevocationCommit = []): LockedPathOutcome => ({ kind: "fail", error, revocations });

/**
 * The locked path of a refresh: everything that is not the ordinary
 * rotation, decided inside one transaction holding the session's row lock.
 * Grace replays converge on the same successor (or the chain's live tip),
 * reuse after the grace window and device changes revoke, and ended
 * sessions and mismatched transports are refused. Also the fallback of a
 * fast-path rotation that lost its claim to a concurrent request.
 */
export async function refreshOnLockedPath(
  deps: LockedPathDeps,
  refreshToken: string,
  transport: Transport,
  ctx: ClientContext,
  arrivedAt: Date,
): Promise<LockedPathOutcome> {
  const { sessions, clock } = deps;
  return sessions.transaction(async (tx) => {
    const found = await tx.findRefreshTokenByHash(hashToken(refreshToken));
    if (!found) return refused(invalidGrant());
    const session = await tx.lockSession(found.sessionId);
    // Re-read under the lock: a concurrent refresh may have just committed.
    const token = await tx.findRefreshTokenById(found.id);
    const now = clock.now();
    if (!session || !token) return refused(invalidGrant());
    if (session.transport !== transport) return refused(transportMismatch());
    const state = sessionState(session, now);
    if (state !== "live") return refused(invalidGrant("the session has ended", state));
    const app = deps.applications.policyOf(session.clientId);
    const lifetimes = sessionLifetimes(session, deps.policy);
    const decision = decideRefresh(token, now, arrivedAt, app.refreshReuseGraceMs);
    if (decision.action === "expired") return refused(invalidGrant());
    if (decision.action === "reuse") return reuseDetected(tx, session, token, ctx, now);

    const device = deps.parseUserAgent(ctx.userAgent);
    const change = assessDeviceChange({ device: session.device, ip: session.lastIp }, { device, ip: ctx.ip }, app.deviceChangePolicy);
    if (change.changes.length > 0) {
      const before = { ...session.device, ip: session.lastIp };
      const detail = { ...change, before, after: { ...device, ip: ctx.ip }, client_id: session.clientId };
      await tx.audit({ type: "device_change", actor: "anonymous", userId: session.userId, sessionId: session.id, ...ctx, detail }, now);
    }
    if (change.action === "revoke") {
      return refused(
        invalidGrant("the session was ended because the device changed"),
        await revokeSessionInTx(tx, session, now, "device_change", "system"),
      );
    }

    let successor: string;
    let idleExpiresAt = session.idleExpiresAt;
    if (decision.action === "rotate") {
      successor = newOpaqueToken();
      const claimed = await tx.markRotated(token.id, now, sealSuccessor(refreshToken, successor));
      // Unreachable while the session lock is held; guard the invariant anyway.
      if (!claimed) throw new AppError("server_error", 500, "refresh rotation lost its claim");
      ({ idleExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, lifetimes));
      await tx.insertRefreshToken({
        id: crypto.randomUUID(),
        hash: hashToken(successor),
        sessionId: session.id,
        parentId: token.id,
        createdAt: now,
        expiresAt: idleExpiresAt,
        rotatedAt: null,
        successorSealed: null,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
      });
      await tx.audit(
        {
          type: "refresh",
          actor: `user:${session.userId}`,
          userId: session.userId,
          sessionId: session.id,
          ...ctx,
          detail: { token_id: token.id, client_id: session.clientId },
        },
        now,
      );
    } else {
      const tip = await chainTip(tx, refreshToken, token.id, token.successorSealed!);
      if (!tip) return reuseDetected(tx, session, token, ctx, now);
      successor = tip;
    }
    const { accessExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, lifetimes, idleExpiresAt);
    const patch = {
      lastSeenAt: now,
      lastIp: ctx.ip,
      userAgent: ctx.userAgent ?? session.userAgent,
      device: ctx.userAgent ? device : session.device,
      idleExpiresAt,
      accessExpiresAt,
      deviceFlagged: session.deviceFlagged || change.action === "flag",
      deviceScore: Math.max(session.deviceScore, change.score),
    };
    await tx.updateSession(session.id, patch);
    const userNotBefore = await tx.userNotBefore(session.userId);
    return { kind: "ok" as const, session: { ...session, ...patch }, successor, now, userNotBefore };
  });
}

/** A spent token presented again outside the grace window, or with no live chain to replay: theft, the session ends. */
async function reuseDetected(
  tx: SessionTx,
  session: SessionRecord,
  token: RefreshTokenRecord,
  ctx: ClientContext,
  now: Date,
): Promise<LockedPathOutcome> {
  const revocations = await revokeSessionInTx(tx, session, now, "refresh_reuse", "system");
  await tx.audit(
    {
      type: "refresh_reuse_detected",
      actor: "anonymous",
      userId: session.userId,
      sessionId: session.id,
      ...ctx,
      detail: { token_id: token.id, client_id: session.clientId },
    },
    now,
  );
  return refused(invalidGrant("refresh token reuse detected; the session is revoked"), revocations);
}

/** Follows sealed successors from a rotated token to the live tip of its chain. */
async function chainTip(tx: SessionTx, token: string, tokenId: string, sealed: Uint8Array): Promise<string | null> {
  let current = openSuccessor(token, tokenId, sealed);
  for (let i = 0; i < MAX_CHAIN_WALK && current !== null; i++) {
    const row = await tx.findRefreshTokenByHash(hashToken(current));
    if (!row) return null;
    if (row.rotatedAt === null) return current;
    if (row.successorSealed === null) return null;
    current = openSuccessor(current, row.id, row.successorSealed);
  }
  return null;
}
