import type { RefreshToken, Session, User } from "../../generated/prisma/client.js";
import type { RefreshTokenRecord, SessionRecord, Transport, UserRecord } from "../../domain/types.js";

/** Row ↔ domain record mapping, in one place. */

export const toUser = (u: User): UserRecord => ({
  id: u.id,
  username: u.username,
  passwordHash: u.passwordHash,
  disabled: u.disabled,
  notBefore: u.notBefore,
  createdAt: u.createdAt,
});

export const toSession = (s: Session): SessionRecord => ({
  id: s.id,
  userId: s.userId,
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
});

export const fromSession = (s: SessionRecord) => ({
  id: s.id,
  userId: s.userId,
  transport: s.transport,
  createdAt: s.createdAt,
  lastSeenAt: s.lastSeenAt,
  idleExpiresAt: s.idleExpiresAt,
  absoluteExpiresAt: s.absoluteExpiresAt,
  accessExpiresAt: s.accessExpiresAt,
  createdIp: truncate(s.createdIp, 64),
  lastIp: truncate(s.lastIp, 64),
  userAgent: truncate(s.userAgent, 512),
  uaBrowser: truncate(s.device.browser, 64),
  uaOs: truncate(s.device.os, 64),
  uaDevice: truncate(s.device.type, 32),
  deviceFlagged: s.deviceFlagged,
  deviceScore: s.deviceScore,
  revokedAt: s.revokedAt,
  revokedReason: s.revokedReason,
  revokedBy: s.revokedBy,
});

export const toRefreshToken = (r: RefreshToken): RefreshTokenRecord => ({
  id: r.id,
  sessionId: r.sessionId,
  parentId: r.parentId,
  createdAt: r.createdAt,
  expiresAt: r.expiresAt,
  rotatedAt: r.rotatedAt,
  successorSealed: r.successorSealed,
  ip: r.ip,
  userAgent: r.userAgent,
});

/** Columns are bounded; client-supplied text is cut to fit rather than failing the request. */
export function truncate(value: string | null, max: number): string | null {
  return value === null ? null : value.length > max ? value.slice(0, max) : value;
}
