import type {
  AuditEventInput,
  RefreshTokenRecord,
  RevocationEntry,
  RevocationReason,
  SessionRecord,
  UserRecord,
} from "./types.js";

/** Built-in user store (SPEC §5 /login, /admin/users). */
export interface UserStore {
  findByUsernameKey(usernameKey: string): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /** Throws the domain `conflict` error when the username is taken. */
  create(user: { id: string; username: string; usernameKey: string; passwordHash: string; now: Date }): Promise<UserRecord>;
}

export type SessionPatch = Partial<
  Pick<
    SessionRecord,
    "lastSeenAt" | "idleExpiresAt" | "accessExpiresAt" | "lastIp" | "userAgent" | "device" | "deviceFlagged" | "deviceScore"
  >
>;

/**
 * Everything that must happen atomically with a session change. Implemented
 * on one database transaction; `lock*` methods take row locks held to commit.
 */
export interface SessionTx {
  /** Locks the user row: serialises logins of one user (the session cap). */
  lockUser(userId: string): Promise<UserRecord | null>;
  /** Locks the session row: serialises refreshes of one session. */
  lockSession(sessionId: string): Promise<SessionRecord | null>;
  /** Sessions of the user not revoked and not expired at `now`, oldest first. */
  listLiveSessions(userId: string, now: Date): Promise<SessionRecord[]>;
  insertSession(session: SessionRecord): Promise<void>;
  updateSession(sessionId: string, patch: SessionPatch): Promise<void>;
  /** Marks a live session revoked; false if it already was. */
  revokeSession(sessionId: string, at: Date, reason: RevocationReason, by: string): Promise<boolean>;
  /** Revokes every unrevoked session of a user; returns the ids revoked. */
  revokeUserSessions(userId: string, at: Date, reason: RevocationReason, by: string, exceptSessionId?: string): Promise<SessionRecord[]>;
  setUserNotBefore(userId: string, at: Date): Promise<void>;
  findRefreshTokenByHash(hash: Uint8Array): Promise<RefreshTokenRecord | null>;
  findRefreshTokenById(id: string): Promise<RefreshTokenRecord | null>;
  insertRefreshToken(token: RefreshTokenRecord & { hash: Uint8Array }): Promise<void>;
  /** Conditional claim: sets rotated_at only if still unset. True if this call won. */
  markRotated(tokenId: string, at: Date, successorSealed: Uint8Array): Promise<boolean>;
  /** Records revocation-list entries (the durable outbox); returns their ids. */
  insertRevocations(entries: RevocationEntry[], now: Date): Promise<bigint[]>;
  audit(event: AuditEventInput, at: Date): Promise<void>;
}

export interface SessionStore {
  transaction<T>(work: (tx: SessionTx) => Promise<T>): Promise<T>;
  findSession(sessionId: string): Promise<SessionRecord | null>;
  /** Sessions not revoked and not expired at `now`, newest first. */
  listLiveSessions(userId: string, now: Date): Promise<SessionRecord[]>;
  /** Reads a refresh token outside a transaction (introspection, RFC 7009). */
  findRefreshTokenByHash(hash: Uint8Array): Promise<RefreshTokenRecord | null>;
}

export interface AuditLog {
  record(event: AuditEventInput, at: Date): Promise<void>;
}

/**
 * Fans revocations out after they are committed (Redis + pub/sub, or the
 * in-process list). Must not throw: what it cannot deliver stays in the
 * outbox and is replayed.
 */
export interface RevocationPublisher {
  publish(entries: Array<RevocationEntry & { id: bigint }>): Promise<void>;
}

export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(hash: string, password: string): Promise<boolean>;
  /** Spends the time of a verification for an unknown user (SPEC §5: similar time). */
  verifyDummy(password: string): Promise<void>;
}

export interface AccessTokenClaims {
  iss: string;
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti: string;
  sid: string;
  trn: "bearer" | "cookie";
}

export interface AccessTokenSigner {
  /** Signs an access token for the session; exp is given in epoch seconds. */
  sign(claims: { sub: string; sid: string; trn: "bearer" | "cookie"; iat: number; exp: number }): Promise<string>;
}

export interface AccessTokenVerifier {
  /** Verifies signature, header and registered claims; throws `invalid_token`. */
  verify(token: string): Promise<AccessTokenClaims>;
}
