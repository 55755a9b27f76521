import { hashToken, newOpaqueToken } from "../crypto/opaque-token.js";
import { assessDeviceChange } from "./device.js";
import type { RefreshContext, RotationWrite } from "./ports.js";
import { decideRefresh } from "./refresh-decision.js";
import type { SessionPolicy } from "./session-service.js";
import { sessionState, slidingExpiries } from "./session-policy.js";
import { sealSuccessor } from "./successor.js";
import type { ClientContext, DeviceInfo, SessionRecord, Transport } from "./types.js";

/** The ordinary rotation, planned on an unlocked read and written in one atomic statement. */
export interface FastRotation {
  write: RotationWrite;
  /** The successor refresh token handed to the client once the write committed. */
  successor: string;
  /** The session as the write leaves it (for the access token and the answer). */
  session: RotatedSession;
}

/** What the answer and the access token need of the rotated session. */
export type RotatedSession = Pick<SessionRecord, "id" | "userId" | "transport" | "idleExpiresAt" | "accessExpiresAt">;

/**
 * Almost every refresh is the ordinary one: the first use of a live token
 * of a live session, over the session's transport, from a device that shows
 * no change at all. That case needs no row lock to decide: the same rules
 * the locked path applies (sessionState, decideRefresh, assessDeviceChange)
 * are applied here to the snapshot, and the write re-checks atomically the
 * two facts another request can change meanwhile (the session still live,
 * the token still unclaimed). Everything else returns null and goes to the
 * locked path unchanged: transport mismatches, ended sessions, expired or
 * rotated tokens (grace replays, reuse) and any device change, because
 * those record, flag or revoke under the session's lock.
 */
export function planFastRotation(
  read: RefreshContext,
  presented: string,
  transport: Transport,
  ctx: ClientContext,
  device: DeviceInfo,
  now: Date,
  policy: Pick<SessionPolicy, "refreshReuseGraceMs" | "deviceChangePolicy" | "accessTokenTtlMs" | "refreshTokenTtlMs" | "sessionMaxLifetimeMs">,
): FastRotation | null {
  const { token, session } = read;
  if (session.transport !== transport || sessionState(session, now) !== "live") return null;
  if (decideRefresh(token, now, policy.refreshReuseGraceMs).action !== "rotate") return null;
  const change = assessDeviceChange({ device: session.device, ip: session.lastIp }, { device, ip: ctx.ip }, policy.deviceChangePolicy);
  if (change.changes.length > 0) return null;

  const successor = newOpaqueToken();
  const { idleExpiresAt, accessExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, policy);
  // As the locked path: a request without a user agent keeps the stored one and its device.
  const userAgent = ctx.userAgent;
  const write: RotationWrite = {
    now,
    userId: session.userId,
    sessionId: session.id,
    tokenId: token.id,
    successorSealed: sealSuccessor(presented, token.id, successor),
    successor: { id: crypto.randomUUID(), hash: hashToken(successor), ip: ctx.ip, userAgent },
    session: { lastIp: ctx.ip, idleExpiresAt, accessExpiresAt, userAgent, device: userAgent ? device : null },
    audit: { type: "refresh", actor: `user:${session.userId}`, userId: session.userId, sessionId: session.id, ...ctx, detail: { token_id: token.id } },
  };
  const updated: RotatedSession = { id: session.id, userId: session.userId, transport: session.transport, idleExpiresAt, accessExpiresAt };
  return { write, successor, session: updated };
}
