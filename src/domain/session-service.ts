import { hashToken, newOpaqueToken } from "../crypto/opaque-token.js";
import { DEFAULT_APPLICATION_ID } from "./applications.js";
import type { Clock } from "./clock.js";
import { memoizeDeviceParser } from "./device-memo.js";
import { AppError, invalidGrant } from "./errors.js";
import { planFastRotation } from "./refresh-fast-path.js";
import { RefreshFlights } from "./refresh-flight.js";
import { refreshOnLockedPath } from "./refresh-locked-path.js";
import type {
  AccessTokenSigner,
  AuditLog,
  NewSessionWrite,
  PasswordHasher,
  RevocationPublisher,
  RotatedSession,
  SessionStore,
  SessionTx,
  UserStore,
} from "./ports.js";
import { initialExpiries, secondsUntil, type SessionPolicy } from "./session-policy.js";
import type { ClientContext, DeviceInfo, SessionRecord, Transport, UserRecord } from "./types.js";
import { normalizeUsername } from "./usernames.js";
import { revokeSessionInTx, type RevocationCommit } from "./revocation-entries.js";

export interface SessionServiceDeps {
  users: UserStore;
  sessions: SessionStore;
  audit: AuditLog;
  publisher: RevocationPublisher;
  passwords: PasswordHasher;
  signer: AccessTokenSigner;
  clock: Clock;
  policy: SessionPolicy;
  parseUserAgent: (userAgent: string | null) => DeviceInfo;
}

/** What a successful login or refresh hands to the transport layer. */
export interface IssuedTokens {
  sessionId: string;
  userId: string;
  transport: Transport;
  accessToken: string;
  refreshToken: string;
  /** Seconds until the access token expires. */
  expiresIn: number;
  /** Seconds until the refresh token (and the session, unless refreshed) expires. */
  refreshExpiresIn: number;
  /** Sessions revoked by the per-user cap to make room for this one. */
  evictedSessionIds: string[];
}

/**
 * Why a user may not get a session, or null if they may. Login answers one
 * `invalid_grant` for every cause (no enumeration of usernames).
 */
export type IssueRefusal = (user: Pick<UserRecord, "disabled"> | null) => AppError | null;

const refuseForLogin: IssueRefusal = (user) => (!user || user.disabled ? invalidGrant("the user does not exist or is disabled") : null);

/**
 * Login, issuance and refresh rotation (SPEC §3). Every decision that another
 * request could race is taken under the row lock it depends on, or written
 * as one conditional statement that re-checks it; revocations are published
 * only after their commit.
 */
export class SessionService {
  private readonly deps: SessionServiceDeps;
  private readonly flights = new RefreshFlights<IssuedTokens>();

  constructor(deps: SessionServiceDeps) {
    this.deps = { ...deps, parseUserAgent: memoizeDeviceParser(deps.parseUserAgent) };
  }

  /** Password login against the built-in user store. */
  async login(username: string, password: string, transport: Transport, ctx: ClientContext): Promise<IssuedTokens> {
    const { users, passwords, audit, clock } = this.deps;
    const user = await users.findByUsernameKey(normalizeUsername(username));
    const ok = user ? await passwords.verify(user.passwordHash, password) : (await passwords.verifyDummy(password), false);
    if (!user || !ok || user.disabled) {
      const reason = !user ? "unknown_user" : !ok ? "bad_password" : "user_disabled";
      await audit.record(
        {
          type: "login_failure",
          actor: "anonymous",
          userId: user?.id ?? null,
          ...ctx,
          detail: { reason, username: username.slice(0, 128) },
        },
        clock.now(),
      );
      // One answer for every cause, so usernames cannot be enumerated.
      throw invalidGrant("invalid username or password", reason);
    }
    return this.issue(user.id, transport, ctx, { type: "login_success", actor: `user:${user.id}` });
  }

  /**
   * Creates a session for an already-authenticated user (login, or an
   * upstream identity service). Under the user's row lock, so concurrent
   * logins of one user never pass MAX_SESSIONS_PER_USER: the common case
   * (room under the cap) is one more statement; at the cap the oldest
   * sessions are evicted first, under the same lock.
   */
  async issue(
    userId: string,
    transport: Transport,
    ctx: ClientContext,
    event: { type: string; actor: string },
    refuse: IssueRefusal = refuseForLogin,
  ): Promise<IssuedTokens> {
    const { sessions, clock, policy, parseUserAgent } = this.deps;
    const refreshToken = newOpaqueToken();
    const device = parseUserAgent(ctx.userAgent);
    const admit = <U extends Pick<UserRecord, "disabled">>(user: U | null): U => {
      const refusal = refuse(user);
      if (refusal || !user) throw refusal ?? invalidGrant();
      return user;
    };
    /** The session, its first refresh token and the audit event; `evicted` names the sessions it displaced. */
    const build = (now: Date, evicted: string[]): NewSessionWrite => {
      const session: SessionRecord = {
        id: crypto.randomUUID(),
        userId,
        clientId: DEFAULT_APPLICATION_ID,
        transport,
        createdAt: now,
        lastSeenAt: now,
        ...initialExpiries(now, policy),
        createdIp: ctx.ip,
        lastIp: ctx.ip,
        userAgent: ctx.userAgent,
        device,
        deviceFlagged: false,
        deviceScore: 0,
        revokedAt: null,
        revokedReason: null,
        revokedBy: null,
        accessTtlMs: null,
        idleTtlMs: null,
      };
      return {
        session,
        refreshToken: {
          id: crypto.randomUUID(),
          hash: hashToken(refreshToken),
          sessionId: session.id,
          parentId: null,
          createdAt: now,
          expiresAt: session.idleExpiresAt,
          rotatedAt: null,
          successorSealed: null,
          ip: ctx.ip,
          userAgent: ctx.userAgent,
        },
        audit: { ...event, userId, sessionId: session.id, ...ctx, detail: { transport, evicted } },
        maxLive: policy.maxSessionsPerUser,
        now,
      };
    };

    // Room under the cap, the common case: one call that locks the user and
    // writes only for an existing, enabled user below the cap.
    const write = build(clock.now(), []);
    const attempt = await sessions.issueSession(write);
    const user = admit(attempt.user);
    if (attempt.inserted) {
      return { ...(await this.tokensFor(write.session, refreshToken, write.now, user.notBefore)), evictedSessionIds: [] };
    }

    // At the cap (nothing was written above): evict the oldest under the user's lock, then insert.
    const result = await sessions.transaction(async (tx) => {
      const user = admit(await tx.lockUser(userId));
      const now = clock.now();
      const evicted = await this.evictForRoom(tx, userId, now, event.actor);
      const write = build(now, evicted.sessionIds);
      // Still under the lock: the evictions made room that nothing else could take.
      if (!(await tx.insertSessionUnderCap(write))) throw new AppError("server_error", 500, "no room for a session after eviction");
      return { write, notBefore: user.notBefore, evicted };
    });
    await this.deps.publisher.publish(result.evicted.revocations);
    const tokens = await this.tokensFor(result.write.session, refreshToken, result.write.now, result.notBefore);
    return { ...tokens, evictedSessionIds: result.evicted.sessionIds };
  }

  /**
   * Refresh rotation with reuse detection. The fast path decides and writes
   * the ordinary rotation in one statement, with nothing read before it: it
   * rotates only the first use of a live token of a live session over its
   * transport from an unchanged device, and claims the token only while
   * unclaimed. Everything else (grace replays, reuse, device changes, ended
   * sessions, unknown tokens, and a claim lost to a concurrent request) is
   * decided on the locked path, under the session's row lock: the first
   * request rotates, concurrent and retried ones that arrived within
   * REFRESH_REUSE_GRACE converge on the same successor, and anything later
   * is reuse and revokes the session. `arrivedAt` is when the request came
   * in: the grace is measured to it (SPEC §3).
   */
  refresh(refreshToken: string, transport: Transport, ctx: ClientContext, arrivedAt: Date = this.deps.clock.now()): Promise<IssuedTokens> {
    // In memory only, for the request's lifetime: the token itself is the key.
    const key = `${refreshToken}|${transport}|${ctx.ip ?? ""}|${ctx.userAgent ?? ""}`;
    return this.flights.run(key, () => this.refreshOnce(refreshToken, transport, ctx, arrivedAt));
  }

  private async refreshOnce(refreshToken: string, transport: Transport, ctx: ClientContext, arrivedAt: Date): Promise<IssuedTokens> {
    const { sessions, clock, policy, parseUserAgent } = this.deps;
    const fast = planFastRotation(refreshToken, transport, ctx, parseUserAgent(ctx.userAgent), clock.now(), policy);
    const rotated = await sessions.rotateFast(fast.write);
    if (rotated) {
      return { ...(await this.tokensFor(rotated.session, fast.successor, fast.write.now, rotated.userNotBefore)), evictedSessionIds: [] };
    }
    // Nothing was written: not the ordinary rotation, or a concurrent
    // refresh or revocation won. The locked path tells which, and answers.
    const outcome = await refreshOnLockedPath(this.deps, refreshToken, transport, ctx, arrivedAt);
    if (outcome.kind === "fail") {
      await this.deps.publisher.publish(outcome.revocations);
      throw outcome.error;
    }
    return { ...(await this.tokensFor(outcome.session, outcome.successor, outcome.now, outcome.userNotBefore)), evictedSessionIds: [] };
  }

  /** Revokes the oldest live sessions so the new one fits under MAX_SESSIONS_PER_USER. */
  private async evictForRoom(tx: SessionTx, userId: string, now: Date, actor: string) {
    const live = await tx.listLiveSessionsOfApp(DEFAULT_APPLICATION_ID, userId, now);
    const excess = live.length - this.deps.policy.maxSessionsPerUser + 1;
    const revocations: RevocationCommit = [];
    const sessionIds: string[] = [];
    for (const victim of live.slice(0, Math.max(0, excess))) {
      revocations.push(...(await revokeSessionInTx(tx, victim, now, "evicted", actor)));
      sessionIds.push(victim.id);
      await tx.audit(
        {
          type: "session_evicted",
          actor,
          userId,
          sessionId: victim.id,
          detail: { reason: "evicted", limit: this.deps.policy.maxSessionsPerUser },
        },
        now,
      );
    }
    return { sessionIds, revocations };
  }

  /**
   * `notBefore` must have been read under the session's or the user's lock,
   * in the transaction that issued (revocation-service.ts, nextNotBefore):
   * a token is lifted past a user-wide revocation only when it postdates it.
   */
  private async tokensFor(
    session: RotatedSession,
    refreshToken: string,
    now: Date,
    notBefore: Date | null,
  ): Promise<Omit<IssuedTokens, "evictedSessionIds">> {
    const iat = Math.max(Math.floor(now.getTime() / 1000), notBefore ? Math.ceil(notBefore.getTime() / 1000) : 0);
    const exp = Math.floor(session.accessExpiresAt.getTime() / 1000);
    if (exp <= iat) throw invalidGrant("the session has reached its maximum lifetime");
    const accessToken = await this.deps.signer.sign({ sub: session.userId, sid: session.id, trn: session.transport, iat, exp });
    return {
      sessionId: session.id,
      userId: session.userId,
      transport: session.transport,
      accessToken,
      refreshToken,
      expiresIn: secondsUntil(session.accessExpiresAt, now),
      refreshExpiresIn: secondsUntil(session.idleExpiresAt, now),
    };
  }
}
