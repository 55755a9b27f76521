import type { AuditRecord, RefreshHistoryEntry, UserSummary } from "../../domain/admin-ports.js";
import type { SessionRecord } from "../../domain/types.js";

/** JSON shapes of the admin API, in one place. */

export const userView = (u: UserSummary) => ({
  id: u.id,
  username: u.username,
  disabled: u.disabled,
  created_at: u.createdAt.toISOString(),
  live_sessions: u.liveSessions,
});

export const adminSessionView = (s: SessionRecord) => ({
  id: s.id,
  user_id: s.userId,
  transport: s.transport,
  created_at: s.createdAt.toISOString(),
  last_seen_at: s.lastSeenAt.toISOString(),
  idle_expires_at: s.idleExpiresAt.toISOString(),
  absolute_expires_at: s.absoluteExpiresAt.toISOString(),
  created_ip: s.createdIp,
  last_ip: s.lastIp,
  user_agent: s.userAgent,
  device: s.device,
  device_flagged: s.deviceFlagged,
  device_score: s.deviceScore,
  revoked_at: s.revokedAt?.toISOString() ?? null,
  revoked_reason: s.revokedReason,
  revoked_by: s.revokedBy,
});

export const refreshView = (r: RefreshHistoryEntry) => ({
  id: r.id,
  parent_id: r.parentId,
  created_at: r.createdAt.toISOString(),
  rotated_at: r.rotatedAt?.toISOString() ?? null,
  expires_at: r.expiresAt.toISOString(),
  ip: r.ip,
  user_agent: r.userAgent,
});

export const auditView = (e: AuditRecord) => ({
  id: e.id.toString(),
  at: e.at.toISOString(),
  type: e.type,
  actor: e.actor,
  user_id: e.userId,
  session_id: e.sessionId,
  ip: e.ip,
  user_agent: e.userAgent,
  detail: e.detail,
});
