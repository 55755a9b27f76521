import type { Application } from "./applications.js";
import type { Claims } from "./claims.js";
import type {
  AuditEventInput,
  DeviceInfo,
  RefreshTokenRecord,
  RevocationEntry,
  RevocationReason,
  SessionRecord,
  Transport,
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

/** What a revocation found of a session under its row lock. */
export type RevokedSession = Pick<SessionRecord, "id" | "userId" | "clientId" | "lastSeenAt" | "accessExpiresAt">;

/**
 * Everything that must happen atomically with a session change. Implemented
 * on one database transaction; `lock*` methods take row locks held to commit.
 * Locks are taken user before session, session before refresh token, on
 * every path, so no two paths deadlock.
 */
export interface SessionTx {
  /** Locks the user row: serialises logins and user-wide revocations of one user (the session cap). */
  lockUser(userId: string): Promise<UserRecord | null>;
  /**
   * What an issuance decides on: takes the application's lock shared, in a
   * statement of its own (storage/applications/application-lock.ts), then
   * locks the user row and reads the application as committed once the lock
   * was granted. A policy change of the application is thus wholly before
   * this issuance or wholly after it.
   */
  lockForIssue(subject: IssueSubject, clientId: string): Promise<IssueLocks>;
  /** Locks the session row: serialises refreshes and revocations of one session. */
  lockSession(sessionId: string): Promise<SessionRecord | null>;
  /** The user's not_before as committed now; read under a session lock it is the one that session's tokens must follow. */
  userNotBefore(userId: string): Promise<Date | null>;
  /** Sessions of the user not revoked and not expired at `now`, oldest first. */
  listLiveSessions(userId: string, now: Date): Promise<SessionRecord[]>;
  /** The user's live sessions of one application at `now`, oldest first: what the session limit counts. */
  listLiveSessionsOfApp(clientId: string, userId: string, now: Date): Promise<SessionRecord[]>;
  updateSession(sessionId: string, patch: SessionPatch): Promise<void>;
  /** Marks a live session revoked and locks it; null if it already was. */
  revokeSession(sessionId: string, at: Date, reason: RevocationReason, by: string): Promise<RevokedSession | null>;
  /** Revokes and locks every unrevoked session of a user, returning each as its last committed write left it. */
  revokeUserSessions(userId: string, at: Date, reason: RevocationReason, by: string): Promise<RevokedSession[]>;
  setUserNotBefore(userId: string, at: Date): Promise<void>;
  /** Replaces the user's custom claims (SPEC §11). */
  setUserClaims(userId: string, claims: Claims, at: Date): Promise<void>;
  /** Locks every unrevoked session of a user and reads what a claims change rewrites, as its last committed write left it. */
  lockSessionsForClaims(userId: string): Promise<ClaimsOfSession[]>;
  /** Rewrites the sessions' claims and lifts their next tokens past `tokensNotBefore`, in one statement. */
  setSessionClaims(sessions: ReadonlyArray<{ id: string; claims: Claims | null }>, tokensNotBefore: Date): Promise<void>;
  findRefreshTokenByHash(hash: Uint8Array): Promise<RefreshTokenRecord | null>;
  findRefreshTokenById(id: string): Promise<RefreshTokenRecord | null>;
  insertRefreshToken(token: RefreshTokenRecord & { hash: Uint8Array }): Promise<void>;
  /** Conditional claim: sets rotated_at only if still unset. True if this call won. */
  markRotated(tokenId: string, at: Date, successorSealed: Uint8Array): Promise<boolean>;
  /**
   * Inserts a new session, its first refresh token and its audit event, but
   * only while the user has fewer than `maxLive` live sessions of the
   * session's application at `now`.
   * Follows `lockUser` in the same transaction, so the count also sees the
   * transaction's own evictions. False at the cap, and then nothing was written.
   */
  insertSessionUnderCap(input: NewSessionWrite): Promise<boolean>;
  /** Records revocation-list entries (the durable outbox); returns their ids. */
  insertRevocations(entries: RevocationEntry[], now: Date): Promise<bigint[]>;
  /** The same for many entries in one statement; returns them as committed, with their ids (in no particular order). */
  insertRevocationBatch(entries: readonly RevocationEntry[], now: Date): Promise<Array<RevocationEntry & { id: bigint }>>;
  audit(event: AuditEventInput, at: Date): Promise<void>;
  /** Many audit events at one instant, in one statement. */
  auditMany(events: readonly AuditEventInput[], at: Date): Promise<void>;
}

/** What a claims change reads of a session under its row lock. */
export type ClaimsOfSession = Pick<SessionRecord, "id" | "sessionClaims" | "lastSeenAt" | "accessExpiresAt">;

/**
 * Whom an issuance is for: a user by id, or an external user by the service
 * client that vouches for it and the upstream's subject, created by the
 * first issuance (SPEC §11).
 */
export type IssueSubject =
  | { userId: string }
  | {
      issuer: string;
      externalSubject: string;
      /** When the user is created, if this issuance creates it. */
      at: Date;
    };

/** The user and the application an issuance found under their locks (null: no such row). */
export interface IssueLocks {
  user: UserRecord | null;
  application: Application | null;
}

/** A new session with its first refresh token and audit event (SessionTx.insertSessionUnderCap). */
export interface NewSessionWrite {
  session: SessionRecord;
  refreshToken: RefreshTokenRecord & { hash: Uint8Array };
  audit: AuditEventInput;
  /** The application's session limit: written only while the user has fewer live sessions of it than this. */
  maxLive: number;
  /** The instant live sessions are counted at (the new session's creation time). */
  now: Date;
}

/** What the answer and the access token need of a rotated session. */
export type RotatedSession = Pick<
  SessionRecord,
  "id" | "userId" | "clientId" | "transport" | "idleExpiresAt" | "accessExpiresAt" | "authentication" | "claims" | "tokensNotBefore"
>;

/**
 * The ordinary rotation, decided and written by one statement
 * (SessionStore.rotateFast): nothing is read before it.
 */
export interface FastRotationWrite {
  now: Date;
  /** The presented token's hash: rotated only while unrotated and unexpired at `now`. */
  tokenHash: Uint8Array;
  /** Where the token was presented: must be its session's transport. */
  transport: Transport;
  /** The request's IP and user agent (null: not known) and the device parsed from the user agent. */
  ip: string | null;
  userAgent: string | null;
  device: DeviceInfo;
  /**
   * REFRESH_TOKEN_TTL and ACCESS_TOKEN_TTL: the lifetimes of a session that
   * carries none of its own (sessionLifetimes); the statement slides by the
   * session's idle_ttl_ms and access_ttl_ms, else these.
   */
  defaults: { accessTokenTtlMs: number; refreshTokenTtlMs: number };
  /** The successor sealed under the presented token (see successor.ts). */
  successorSealed: Uint8Array;
  successor: { id: string; hash: Uint8Array };
}

/** A committed rotation: the session as it left it, and the user's not_before read in the same statement. */
export interface FastRotationOutcome {
  session: RotatedSession;
  userNotBefore: Date | null;
  audit: AuditEventInput;
}

/**
 * What SessionStore.issueSession found of the user under its lock, the
 * write it planned (null when the user is missing or disabled: nothing is
 * planned for them) and whether that was written.
 */
export interface IssueAttempt {
  user: Pick<UserRecord, "id" | "disabled" | "notBefore"> | null;
  write: NewSessionWrite | null;
  inserted: boolean;
}

/**
 * Builds the new session from the application read under the issuance's
 * locks (null: no such application). Throwing refuses the issuance, and
 * nothing is written.
 */
export type IssuePlan = (application: Application | null, user: UserRecord) => NewSessionWrite;

export interface SessionStore {
  transaction<T>(work: (tx: SessionTx) => Promise<T>): Promise<T>;
  /**
   * The fast path of a refresh in one autocommit statement, all or nothing:
   * the presented token is rotated only if every fast-path precondition
   * holds (storage/sessions/fast-path-sql.ts). It locks the session before
   * it claims the token, then updates the session and inserts the successor
   * and the audit event. Null means nothing was written and the locked path
   * must decide. Leaves the session's device flag and score as they are.
   */
  rotateFast(write: FastRotationWrite): Promise<FastRotationOutcome | null>;
  /**
   * The common issuance, in one short transaction: SessionTx.lockForIssue,
   * then, only for an existing, enabled user, `plan` on the application
   * found, and its write as SessionTx.insertSessionUnderCap does it, below
   * the application's limit. `inserted: false` with a planned write means
   * the limit: the caller evicts (or denies) in a transaction of its own. A
   * missing or disabled user gets nothing planned or written.
   */
  issueSession(subject: IssueSubject, clientId: string, plan: IssuePlan): Promise<IssueAttempt>;
  findSession(sessionId: string): Promise<SessionRecord | null>;
  /** The latest live "tokens of this session issued before" instant (a shortened access lifetime, SPEC §10), or null. */
  sessionNotBefore(sessionId: string, now: Date): Promise<Date | null>;
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
  /** SPEC §10: the application the session belongs to; absent on tokens that predate applications. */
  client_id?: string;
  /** SPEC §11; absent on tokens that predate them. */
  auth_time?: number;
  amr?: string[];
  acr?: string;
  /** Everything else the token carries (SPEC §11's custom claims among them). */
  [claim: string]: unknown;
}

export interface AccessTokenSigner {
  /** Signs an access token for the session; exp is given in epoch seconds. */
  sign(claims: {
    sub: string;
    sid: string;
    trn: "bearer" | "cookie";
    client_id: string;
    iat: number;
    exp: number;
    /** SPEC §11: how the user authenticated; every session's token carries auth_time and amr. */
    auth_time?: number;
    amr?: string[];
    acr?: string | null;
    /** Custom claims (SPEC §11), none of them a registered name. */
    claims?: Claims | null;
  }): Promise<string>;
}

export interface AccessTokenVerifier {
  /** Verifies signature, header and registered claims; throws `invalid_token`. */
  verify(token: string): Promise<AccessTokenClaims>;
}
