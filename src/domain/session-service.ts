import { newOpaqueToken } from "../crypto/opaque-token.js";
import { type Application, type ApplicationPolicy, DEFAULT_APPLICATION_ID, type PolicySource } from "./applications.js";
import type { Clock } from "./clock.js";
import { memoizeDeviceParser } from "./device-memo.js";
import { AppError, invalidGrant, sessionLimit } from "./errors.js";
import { planFastRotation } from "./refresh-fast-path.js";
import { RefreshFlights } from "./refresh-flight.js";
import { refreshOnLockedPath } from "./refresh-locked-path.js";
import type {
  AccessTokenSigner,
  AuditLog,
  IssueSubject,
  NewSessionWrite,
  PasswordHasher,
  RevocationPublisher,
  RotatedSession,
  SessionStore,
  SessionTx,
  UserStore,
} from "./ports.js";
import type { Claims } from "./claims.js";
import { admitApplication, type NewSessionRequest, newSessionWrite } from "./new-session.js";
import { secondsUntil } from "./session-policy.js";
import type { Authentication, ClientContext, DeviceInfo, Transport, UserRecord } from "./types.js";
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
  /** The service-wide policy (SPEC §9): what an application's policy field left out takes. */
  policy: ApplicationPolicy;
  /** Every application's resolved policy, in memory: the grace and device rules of a session's refresh. */
  applications: PolicySource;
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

/** What a new session is for, and how its user authenticated (SPEC §11). */
export interface IssueGrant {
  subject: IssueSubject;
  clientId: string;
  transport: Transport;
  authentication: Authentication;
  /** The session's own claims, already validated; the user's are read under the issuance's lock. */
  sessionClaims?: Claims | null;
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
  async login(
    username: string,
    password: string,
    transport: Transport,
    ctx: ClientContext,
    clientId: string = DEFAULT_APPLICATION_ID,
  ): Promise<IssuedTokens> {
    const { users, passwords, audit, clock } = this.deps;
    const user = await users.findByUsernameKey(normalizeUsername(username));
    // External users have no password (SPEC §11) and no login key; the check is for a corrupted row.
    const ok = user?.passwordHash ? await passwords.verify(user.passwordHash, password) : (await passwords.verifyDummy(password), false);
    if (!user || !ok || user.disabled) {
      const reason = !user ? "unknown_user" : !ok ? "bad_password" : "user_disabled";
      await audit.record(
        {
          type: "login_failure",
          actor: "anonymous",
          userId: user?.id ?? null,
          ...ctx,
          detail: { reason, username: username.slice(0, 128), client_id: clientId },
        },
        clock.now(),
      );
      // One answer for every cause, so usernames cannot be enumerated.
      throw invalidGrant("invalid username or password", reason);
    }
    const authentication = { authTime: clock.now(), amr: ["pwd"], acr: null };
    return this.issue({ subject: { userId: user.id }, clientId, transport, authentication }, ctx, {
      type: "login_success",
      actor: `user:${user.id}`,
    });
  }

  /**
   * Creates a session of an application for an already-authenticated user
   * (login, or an upstream identity service). Under the application's lock
   * (shared) and the user's row lock, so concurrent logins of one user never
   * pass the application's session limit and a policy change never
   * half-applies: the common case (room under the limit) is one short
   * transaction; at the limit the application's policy either evicts the
   * user's oldest sessions of that application first, under the same locks,
   * or refuses with `session_limit` and revokes nothing.
   */
  async issue(
    grant: IssueGrant,
    ctx: ClientContext,
    event: { type: string; actor: string },
    refuse: IssueRefusal = refuseForLogin,
  ): Promise<IssuedTokens> {
    const { sessions, clock, policy: defaults, parseUserAgent } = this.deps;
    const { subject, clientId, transport } = grant;
    const request: NewSessionRequest = {
      transport,
      authentication: grant.authentication,
      sessionClaims: grant.sessionClaims ?? null,
      ctx,
      device: parseUserAgent(ctx.userAgent),
      refreshToken: newOpaqueToken(),
      event,
    };
    const admit = <U extends Pick<UserRecord, "disabled">>(user: U | null): U => {
      const refusal = refuse(user);
      if (refusal || !user) throw refusal ?? invalidGrant();
      return user;
    };
    // Decided on the application as read under the locks (admitApplication throws for an unknown one).
    let policy: ApplicationPolicy = defaults;
    const plan = (application: Application | null, user: UserRecord, now: Date, evicted: string[]) => {
      policy = admitApplication(application, transport, defaults);
      return newSessionWrite(request, user, application!, policy, now, evicted);
    };

    // Room under the limit, the common case: one call that takes the locks
    // and writes only for an existing, enabled user below the limit.
    const attempt = await sessions.issueSession(subject, clientId, (application, user) => plan(application, user, clock.now(), []));
    const user = admit(attempt.user);
    const first = attempt.write!;
    if (attempt.inserted) {
      return { ...(await this.tokensFor(first.session, request.refreshToken, first.now, user.notBefore)), evictedSessionIds: [] };
    }
    if (policy.onLimit === "deny") return this.deny(first, policy);

    // At the limit (nothing was written above): evict the oldest under the same locks, then insert.
    const userId = user.id;
    const result = await sessions.transaction(async (tx) => {
      const locked = await tx.lockForIssue({ userId }, clientId);
      const user = admit(locked.user);
      const now = clock.now();
      policy = admitApplication(locked.application, transport, defaults);
      if (policy.onLimit === "deny") return null; // the policy changed in between: nothing was revoked yet
      const evicted = await this.evictForRoom(tx, clientId, userId, now, event.actor, policy.maxSessionsPerUser);
      const write = plan(locked.application, user, now, evicted.sessionIds);
      // Still under the locks: the evictions made room that nothing else could take.
      if (!(await tx.insertSessionUnderCap(write))) throw new AppError("server_error", 500, "no room for a session after eviction");
      return { write, notBefore: user.notBefore, evicted };
    });
    if (!result) return this.deny(first, policy);
    await this.deps.publisher.publish(result.evicted.revocations);
    const tokens = await this.tokensFor(result.write.session, request.refreshToken, result.write.now, result.notBefore);
    return { ...tokens, evictedSessionIds: result.evicted.sessionIds };
  }

  /** SPEC §3, `on_limit: "deny"`: the new session is refused, audited, and nothing is revoked. */
  private async deny(refused: NewSessionWrite, policy: ApplicationPolicy): Promise<never> {
    const { session, audit } = refused;
    await this.deps.audit.record(
      {
        type: "session_denied",
        actor: audit.actor,
        userId: session.userId,
        ip: audit.ip ?? null,
        userAgent: audit.userAgent ?? null,
        detail: { reason: "session_limit", client_id: session.clientId, limit: policy.maxSessionsPerUser, transport: session.transport },
      },
      this.deps.clock.now(),
    );
    throw sessionLimit();
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

  /** Revokes the user's oldest live sessions of the application so the new one fits under its limit. */
  private async evictForRoom(tx: SessionTx, clientId: string, userId: string, now: Date, actor: string, limit: number) {
    const live = await tx.listLiveSessionsOfApp(clientId, userId, now);
    const excess = live.length - limit + 1;
    const revocations: RevocationCommit = [];
    const sessionIds: string[] = [];
    for (const victim of live.slice(0, Math.max(0, excess))) {
      revocations.push(...(await revokeSessionInTx(tx, victim, now, "evicted", actor)));
      sessionIds.push(victim.id);
      await tx.audit(
        { type: "session_evicted", actor, userId, sessionId: victim.id, detail: { reason: "evicted", limit, client_id: clientId } },
        now,
      );
    }
    return { sessionIds, revocations };
  }

  /**
   * `notBefore` must have been read under the session's or the user's lock,
   * in the transaction that issued (revocation-service.ts, nextNotBefore):
   * a token is lifted past a user-wide revocation only when it postdates it.
   * The session's own `tokensNotBefore` (a claims change) was read with the
   * session row under its lock, so the token carries the claims written
   * with it and may be lifted past it.
   */
  private async tokensFor(
    session: RotatedSession,
    refreshToken: string,
    now: Date,
    notBefore: Date | null,
  ): Promise<Omit<IssuedTokens, "evictedSessionIds">> {
    const ceilSec = (d: Date | null) => (d ? Math.ceil(d.getTime() / 1000) : 0);
    const iat = Math.max(Math.floor(now.getTime() / 1000), ceilSec(notBefore), ceilSec(session.tokensNotBefore));
    const exp = Math.floor(session.accessExpiresAt.getTime() / 1000);
    if (exp <= iat) throw invalidGrant("the session has reached its maximum lifetime");
    const { authTime, amr, acr } = session.authentication;
    const accessToken = await this.deps.signer.sign({
      sub: session.userId,
      sid: session.id,
      trn: session.transport,
      client_id: session.clientId,
      iat,
      exp,
      auth_time: Math.floor(authTime.getTime() / 1000),
      amr,
      acr,
      claims: session.claims,
    });
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
