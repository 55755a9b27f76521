import { hashToken, newOpaqueToken } from "../crypto/opaque-token.js";
import type { Clock } from "./clock.js";
import { assessDeviceChange } from "./device.js";
import { AppError, invalidGrant, transportMismatch } from "./errors.js";
import type { SessionStore, SessionTx } from "./ports.js";
import { decideRefresh } from "./refresh-decision.js";
import { revokeSessionInTx, type RevocationCommit } from "./revocation-entries.js";
import type { SessionPolicy } from "./session-service.js";
import { sessionState, slidingExpiries } from "./session-policy.js";
import { openSuccessor, sealSuccessor } from "./successor.js";
import type { ClientContext, DeviceInfo, SessionRecord, Transport } from "./types.js";

/** How deep a replay within the grace window follows the rotation chain. */
const MAX_CHAIN_WALK = 8;

export interface LockedRefreshDeps {
  sessions: SessionStore;
  clock: Clock;
  policy: SessionPolicy;
  parseUserAgent: (userAgent: string | null) => DeviceInfo;
}

export type LockedRefreshOutcome =
  | { kind: "ok"; session: SessionRecord; successor: string; now: Date }
  /** Refused; `revocations` were committed and must be published. */
  | { kind: "fail"; error: AppError; revocations: RevocationCommit };

/**
 * Every refresh that is not the ordinary rotation, decided inside one
 * transaction holding the session's row lock: grace replays converge on the
 * same successor (or the chain's live tip), reuse after the grace window
 * and device changes revoke, and ended sessions and mismatched transports
 * are refused. Also the fallback of an ordinary rotation that lost its
 * atomic claim to a concurrent request.
 */
export async function refreshUnderLock(
  deps: LockedRefreshDeps,
  refreshToken: string,
  transport: Transport,
  ctx: ClientContext,
): Promise<LockedRefreshOutcome> {
  const { sessions, clock, policy } = deps;
  return sessions.transaction(async (tx) => {
    const found = await tx.findRefreshTokenByHash(hashToken(refreshToken));
    if (!found) return { kind: "fail" as const, error: invalidGrant(), revocations: [] };
    const session = await tx.lockSession(found.sessionId);
    // Re-read under the lock: a concurrent refresh may have just committed.
    const token = await tx.findRefreshTokenById(found.id);
    const now = clock.now();
    if (!session || !token) return { kind: "fail" as const, error: invalidGrant(), revocations: [] };
    if (session.transport !== transport) return { kind: "fail" as const, error: transportMismatch(), revocations: [] };
    if (sessionState(session, now) !== "live") {
      return { kind: "fail" as const, error: invalidGrant("the session has ended", sessionState(session, now)), revocations: [] };
    }
    const decision = decideRefresh(token, now, policy.refreshReuseGraceMs);
    if (decision.action === "expired") return { kind: "fail" as const, error: invalidGrant(), revocations: [] };
    if (decision.action === "reuse") {
      const revocations = await revokeSessionInTx(tx, session, now, "refresh_reuse", "system");
      await tx.audit({ type: "refresh_reuse_detected", actor: "anonymous", userId: session.userId, sessionId: session.id, ...ctx, detail: { token_id: token.id } }, now);
      return { kind: "fail" as const, error: invalidGrant("refresh token reuse detected; the session is revoked"), revocations };
    }

    const device = deps.parseUserAgent(ctx.userAgent);
    const change = assessDeviceChange({ device: session.device, ip: session.lastIp }, { device, ip: ctx.ip }, policy.deviceChangePolicy);
    if (change.changes.length > 0) {
      await tx.audit({ type: "device_change", actor: "anonymous", userId: session.userId, sessionId: session.id, ...ctx, detail: { ...change, before: { ...session.device, ip: session.lastIp }, after: { ...device, ip: ctx.ip } } }, now);
    }
    if (change.action === "revoke") {
      const revocations = await revokeSessionInTx(tx, session, now, "device_change", "system");
      return { kind: "fail" as const, error: invalidGrant("the session was ended because the device changed"), revocations };
    }

    let successor: string;
    let idleExpiresAt = session.idleExpiresAt;
    if (decision.action === "rotate") {
      successor = newOpaqueToken();
      const claimed = await tx.markRotated(token.id, now, sealSuccessor(refreshToken, successor));
      // Unreachable while the session lock is held; guard the invariant anyway.
      if (!claimed) throw new AppError("server_error", 500, "refresh rotation lost its claim");
      ({ idleExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, policy));
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
      await tx.audit({ type: "refresh", actor: `user:${session.userId}`, userId: session.userId, sessionId: session.id, ...ctx, detail: { token_id: token.id } }, now);
    } else {
      const tip = await chainTip(tx, refreshToken, token.id, token.successorSealed!);
      if (!tip) {
        const revocations = await revokeSessionInTx(tx, session, now, "refresh_reuse", "system");
        return { kind: "fail" as const, error: invalidGrant("refresh token reuse detected; the session is revoked"), revocations };
      }
      successor = tip;
    }
    const { accessExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, policy);
    const updated: SessionRecord = {
      ...session,
      lastSeenAt: now,
      lastIp: ctx.ip,
      userAgent: ctx.userAgent ?? session.userAgent,
      device: ctx.userAgent ? device : session.device,
      idleExpiresAt,
      accessExpiresAt,
      deviceFlagged: session.deviceFlagged || change.action === "flag",
      deviceScore: Math.max(session.deviceScore, change.score),
    };
    await tx.updateSession(session.id, {
      lastSeenAt: updated.lastSeenAt,
      lastIp: updated.lastIp,
      userAgent: updated.userAgent,
      device: updated.device,
      idleExpiresAt: updated.idleExpiresAt,
      accessExpiresAt: updated.accessExpiresAt,
      deviceFlagged: updated.deviceFlagged,
      deviceScore: updated.deviceScore,
    });
    return { kind: "ok" as const, session: updated, successor, now };
  });
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
