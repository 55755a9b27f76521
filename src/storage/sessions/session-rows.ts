// Rows of the session aggregate as the SQL of this folder reads them, and
// their domain records. Column names are the migrations' (snake_case).
import type { Claims } from "../../domain/claims.js";
import type { Authentication, RefreshTokenRecord, SessionRecord, Transport, UserKind, UserRecord } from "../../domain/types.js";

export const SESSION_COLUMNS = `s.id, s.user_id, s.transport, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at,
  s.access_expires_at, s.created_ip, s.last_ip, s.user_agent, s.ua_browser, s.ua_os, s.ua_device, s.device_flagged,
  s.device_score, s.revoked_at, s.revoked_reason, s.revoked_by, s.client_id, s.access_ttl_ms, s.idle_ttl_ms,
  s.auth_time, s.amr, s.acr, s.session_claims, s.claims, s.tokens_not_before`;

export interface SessionRow {
  id: string;
  user_id: string;
  transport: string;
  created_at: Date;
  last_seen_at: Date;
  idle_expires_at: Date;
  absolute_expires_at: Date;
  access_expires_at: Date;
  created_ip: string | null;
  last_ip: string | null;
  user_agent: string | null;
  ua_browser: string | null;
  ua_os: string | null;
  ua_device: string | null;
  device_flagged: boolean;
  device_score: number;
  revoked_at: Date | null;
  revoked_reason: string | null;
  revoked_by: string | null;
  client_id: string;
  /** BIGINT: a string from node-postgres, a bigint or number from PGlite. */
  access_ttl_ms: string | number | bigint | null;
  idle_ttl_ms: string | number | bigint | null;
  auth_time: Date | null;
  amr: string[] | null;
  acr: string | null;
  session_claims: Claims | null;
  claims: Claims | null;
  tokens_not_before: Date | null;
}

/** SPEC §11 columns as any statement returns them; a session older than them authenticated at its creation. */
export interface AuthenticationRow {
  created_at: Date;
  auth_time: Date | null;
  amr: string[] | null;
  acr: string | null;
}

export const toAuthentication = (r: AuthenticationRow): Authentication => ({
  authTime: r.auth_time ?? r.created_at,
  amr: r.amr ?? [],
  acr: r.acr,
});

const msOf = (v: string | number | bigint | null): number | null => (v === null ? null : Number(v));

export const toSessionRecord = (r: SessionRow): SessionRecord => ({
  id: r.id,
  userId: r.user_id,
  clientId: r.client_id,
  transport: r.transport as Transport,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  idleExpiresAt: r.idle_expires_at,
  absoluteExpiresAt: r.absolute_expires_at,
  accessExpiresAt: r.access_expires_at,
  createdIp: r.created_ip,
  lastIp: r.last_ip,
  userAgent: r.user_agent,
  device: { browser: r.ua_browser, os: r.ua_os, type: r.ua_device },
  deviceFlagged: r.device_flagged,
  deviceScore: r.device_score,
  revokedAt: r.revoked_at,
  revokedReason: r.revoked_reason,
  revokedBy: r.revoked_by,
  accessTtlMs: msOf(r.access_ttl_ms),
  idleTtlMs: msOf(r.idle_ttl_ms),
  authentication: toAuthentication(r),
  sessionClaims: r.session_claims,
  claims: r.claims,
  tokensNotBefore: r.tokens_not_before,
});

export const TOKEN_COLUMNS =
  "t.id, t.session_id, t.parent_id, t.created_at, t.expires_at, t.rotated_at, t.successor_sealed, t.ip, t.user_agent";

export interface TokenRow {
  id: string;
  session_id: string;
  parent_id: string | null;
  created_at: Date;
  expires_at: Date;
  rotated_at: Date | null;
  successor_sealed: Uint8Array | null;
  ip: string | null;
  user_agent: string | null;
}

export const toRefreshTokenRecord = (r: TokenRow): RefreshTokenRecord => ({
  id: r.id,
  sessionId: r.session_id,
  parentId: r.parent_id,
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  rotatedAt: r.rotated_at,
  successorSealed: r.successor_sealed,
  ip: r.ip,
  userAgent: r.user_agent,
});

export const USER_COLUMNS =
  "u.id, u.username, u.password_hash, u.kind, u.issuer, u.external_subject, u.claims, u.disabled, u.not_before, u.created_at";

export interface UserRow {
  id: string;
  username: string;
  password_hash: string | null;
  kind: string;
  issuer: string | null;
  external_subject: string | null;
  claims: Claims;
  disabled: boolean;
  not_before: Date | null;
  created_at: Date;
}

export const toUserRecord = (u: UserRow): UserRecord => ({
  id: u.id,
  username: u.username,
  passwordHash: u.password_hash,
  kind: u.kind as UserKind,
  issuer: u.issuer,
  externalSubject: u.external_subject,
  claims: u.claims,
  disabled: u.disabled,
  notBefore: u.not_before,
  createdAt: u.created_at,
});
