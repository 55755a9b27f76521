import type { Session, User } from "../../generated/prisma/client.js";
import type { Claims } from "../../domain/claims.js";
import type { SessionRecord, Transport, UserKind, UserRecord } from "../../domain/types.js";
import { toAuthentication } from "../sessions/session-rows.js";

/** Row ↔ domain record mapping, in one place. */

export const toUser = (u: User): UserRecord => ({
  id: u.id,
  username: u.username,
  passwordHash: u.passwordHash,
  kind: u.kind as UserKind,
  issuer: u.issuer,
  externalSubject: u.externalSubject,
  claims: u.claims as Claims,
  disabled: u.disabled,
  notBefore: u.notBefore,
  createdAt: u.createdAt,
});

export const toSession = (s: Session): SessionRecord => ({
  id: s.id,
  userId: s.userId,
  clientId: s.clientId,
  transport: s.transport as Transport,
  createdAt: s.createdAt,
  lastSeenAt: s.lastSeenAt,
  idleExpiresAt: s.idleExpiresAt,
  absoluteExpiresAt: s.absoluteExpiresAt,
  accessExpiresAt: s.accessExpiresAt,
  createdIp: s.createdIp,
  lastIp: s.lastIp,
  userAgent: s.userAgent,
  device: { browser: s.uaBrowser, os: s.uaOs, type: s.uaDevice },
  deviceFlagged: s.deviceFlagged,
  deviceScore: s.deviceScore,
  revokedAt: s.revokedAt,
  revokedReason: s.revokedReason,
  revokedBy: s.revokedBy,
  accessTtlMs: s.accessTtlMs === null ? null : Number(s.accessTtlMs),
  idleTtlMs: s.idleTtlMs === null ? null : Number(s.idleTtlMs),
  authentication: toAuthentication({ created_at: s.createdAt, auth_time: s.authTime, amr: s.amr, acr: s.acr }),
  sessionClaims: s.sessionClaims as Claims | null,
  claims: s.claims as Claims | null,
  tokensNotBefore: s.tokensNotBefore,
});
