/** Plain records the domain works on; storage maps its rows to these. */

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

export interface UserRecord {
  id: string;
  username: string;
  passwordHash: string;
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
