import type {
  AuditEventInput,
  DeviceInfo,
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
  /**
   * Inserts a new session, its first refresh token and its audit event in
   * one statement, but only while the user has fewer than `maxLive` live
   * sessions at `now`. Counts in a statement of its own, so it must follow
   * `lockUser` in the same transaction: the count then sees every session a
   * concurrent login of the user committed before it released the lock.
   * False when the user is at the cap, and then nothing was written.
   */
  insertSessionUnderCap(input: NewSessionWrite): Promise<boolean>;
  /** Records revocation-list entries (the durable outbox); returns their ids. */
  insertRevocations(entries: RevocationEntry[], now: Date): Promise<bigint[]>;
  audit(event: AuditEventInput, at: Date): Promise<void>;
}

/** A new session with its first refresh token and audit event (SessionTx.insertSessionUnderCap). */
export interface NewSessionWrite {
  session: SessionRecord;
  refreshToken: RefreshTokenRecord & { hash: Uint8Array };
  audit: AuditEventInput;
  /** MAX_SESSIONS_PER_USER: written only while the user has fewer live sessions than this. */
  maxLive: number;
  /** The instant live sessions are counted at (the new session's creation time). */
  now: Date;
}

/**
 * One unlocked read of a presented refresh token (SessionStore.readRefreshContext):
 * the columns the optimistic rotation decides on, and no more (every column
 * read costs parsing on the hot path).
 */
export interface RefreshContext {
  token: Pick<RefreshTokenRecord, "id" | "sessionId" | "expiresAt" | "rotatedAt" | "successorSealed">;
  session: Pick<
    SessionRecord,
    "id" | "userId" | "transport" | "idleExpiresAt" | "absoluteExpiresAt" | "revokedAt" | "lastIp" | "userAgent" | "device"
  >;
}

/** The writes of an ordinary rotation (SessionStore.rotateRefreshToken). */
export interface RotationWrite {
  now: Date;
  userId: string;
  sessionId: string;
  /** The presented token: claimed only if still unrotated. */
  tokenId: string;
  /** The successor sealed under the presented token (see successor.ts). */
  successorSealed: Uint8Array;
  /** The new refresh token; its parent is `tokenId`, it expires with the session's new idle expiry. */
  successor: { id: string; hash: Uint8Array; ip: string | null; userAgent: string | null };
  /** The session's new sliding state. `userAgent` and `device` null keep the stored values. */
  session: { lastIp: string | null; idleExpiresAt: Date; accessExpiresAt: Date; userAgent: string | null; device: DeviceInfo | null };
  audit: AuditEventInput;
}

/** What SessionStore.issueSession did: the user row it locked, what `prepare` returned, whether that was written. */
export interface IssueAttempt {
  user: UserRecord | null;
  write: NewSessionWrite;
  inserted: boolean;
}

export type RotationOutcome =
  /** Committed: the token is burnt, the successor and the audit event are in. */
  | { rotated: true; userNotBefore: Date | null }
  /** Nothing was written: the token was already claimed, or the session is no longer live at `now`. */
  | { rotated: false };

export interface SessionStore {
  transaction<T>(work: (tx: SessionTx) => Promise<T>): Promise<T>;
  /**
   * The token with this hash and its session, in one read and without a
   * lock: the input of the optimistic rotation. Null for an unknown token.
   */
  readRefreshContext(hash: Uint8Array): Promise<RefreshContext | null>;
  /**
   * The ordinary rotation as one atomic statement outside any transaction:
   * locks the session only if it is still live at `now`, claims the token
   * only if it is still unrotated (in that order, the order the locked path
   * takes its locks), then updates the session and inserts the successor and
   * the audit event. All or nothing; `rotated: false` means the caller must
   * decide again under the lock (a concurrent refresh or revocation won).
   * Leaves the session's device flag and score as they are.
   */
  rotateRefreshToken(write: RotationWrite): Promise<RotationOutcome>;
  /**
   * The common issuance as one short transaction of its own: locks the user
   * row, hands the user to `prepare` (which throws to refuse, or returns
   * what to write), then writes it as SessionTx.insertSessionUnderCap does.
   * `inserted: false` means the user is at the cap and nothing was written:
   * the caller evicts in a transaction of its own, under the user's lock again.
   */
  issueSession(userId: string, prepare: (user: UserRecord | null) => NewSessionWrite): Promise<IssueAttempt>;
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
