/** Plain records the domain works on; storage maps its rows to these. */
import type { Claims } from "./claims.js";

export type Transport = "bearer" | "cookie";

/** Where a caller found a token: SPEC §5 `token_transport`. */
export type PresentedVia = "header" | "cookie";

export const transportOf = (via: PresentedVia): Transport => (via === "header" ? "bearer" : "cookie");

export type RevocationReason =
  | "logout"
  | "logout_all"
  | "user_revoked"
  | "admin"
  | "evicted"
  | "refresh_reuse"
  | "device_change"
  | "password_change"
  | "user_disabled"
  | "rfc7009"
  /** SPEC §10: ended by a change of its application's policy. */
  | "policy";

export interface DeviceInfo {
  browser: string | null;
  os: string | null;
  /** "desktop", "mobile", "tablet", … */
  type: string | null;
}

/** SPEC §11: a user with a password here, or one an upstream identity service vouches for. */
export type UserKind = "local" | "external";

export interface UserRecord {
  id: string;
  /** A local user's username as entered; an external user's external subject. */
  username: string;
  /** Null for external users: they have no password and cannot use /login. */
  passwordHash: string | null;
  kind: UserKind;
  /** The service client that scopes an external user's subject; null for local users. */
  issuer: string | null;
  externalSubject: string | null;
  /** Custom claims (SPEC §11), {} when none. */
  claims: Claims;
  disabled: boolean;
  notBefore: Date | null;
  createdAt: Date;
}

export interface SessionRecord {
  id: string;
  userId: string;
  /** The application the session belongs to (SPEC §10). */
  clientId: string;
  transport: Transport;
  createdAt: Date;
  lastSeenAt: Date;
  idleExpiresAt: Date;
  absoluteExpiresAt: Date;
  accessExpiresAt: Date;
  createdIp: string | null;
  lastIp: string | null;
  userAgent: string | null;
  device: DeviceInfo;
  deviceFlagged: boolean;
  deviceScore: number;
  revokedAt: Date | null;
  revokedReason: string | null;
  revokedBy: string | null;
  /** The application's access and idle lifetimes, copied at issue; null: the service-wide value. */
  accessTtlMs: number | null;
  idleTtlMs: number | null;
  /** How and when the user authenticated (SPEC §11), kept across refreshes. */
  authentication: Authentication;
  /** The session's own claims (POST /sessions), null when none. */
  sessionClaims: Claims | null;
  /** What its tokens carry: the user's claims, then the session's (mergeClaims); null when none. */
  claims: Claims | null;
  /** The session's tokens issued before this instant are invalid (a claims change): the next ones are lifted past it. */
  tokensNotBefore: Date | null;
}

/** SPEC §11: `auth_time`, `amr` (RFC 8176) and `acr` of a session. */
export interface Authentication {
  authTime: Date;
  amr: string[];
  acr: string | null;
}

export interface RefreshTokenRecord {
  id: string;
  sessionId: string;
  parentId: string | null;
  createdAt: Date;
  expiresAt: Date;
  rotatedAt: Date | null;
  successorSealed: Uint8Array | null;
  ip: string | null;
  userAgent: string | null;
}

/** What the request tells us about the caller's device. */
export interface ClientContext {
  ip: string | null;
  userAgent: string | null;
}

/** A revocation-list entry (SPEC §4). */
export type RevocationEntry =
  /** A session's tokens; with `notBefore`, only those issued (`iat`) before it (a shortened access lifetime, SPEC §10). */
  | { kind: "sid"; subject: string; expiresAt: Date; notBefore?: Date }
  | { kind: "sub"; subject: string; notBefore: Date; expiresAt: Date }
  /** Every token signed by a compromised key (SPEC §14), until the last of them expires. */
  | { kind: "kid"; subject: string; expiresAt: Date };

export interface AuditEventInput {
  type: string;
  /** "user:<id>", "client:<id>", "system" or "anonymous". */
  actor: string;
  userId?: string | null;
  sessionId?: string | null;
  ip?: string | null;
  userAgent?: string | null;
  detail?: Record<string, unknown>;
}
