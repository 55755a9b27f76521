import { hashToken, newOpaqueToken } from "../crypto/opaque-token.js";
import type { Clock } from "./clock.js";
import { assessDeviceChange } from "./device.js";
import { AppError, invalidGrant, transportMismatch } from "./errors.js";
import type { AccessTokenSigner, AuditLog, PasswordHasher, RevocationPublisher, SessionStore, SessionTx, UserStore } from "./ports.js";
import { decideRefresh } from "./refresh-decision.js";
import { openSuccessor, sealSuccessor } from "./successor.js";
import { initialExpiries, secondsUntil, sessionState, slidingExpiries, type LifetimePolicy } from "./session-policy.js";
import type { ClientContext, DeviceInfo, SessionRecord, Transport } from "./types.js";
import { normalizeUsername } from "./usernames.js";
import { revokeSessionInTx, type RevocationCommit } from "./revocation-entries.js";

export interface SessionPolicy extends LifetimePolicy {
  refreshReuseGraceMs: number;
  maxSessionsPerUser: number;
  deviceChangePolicy: "revoke" | "flag" | "allow" | "default";
}

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

/** How deep a replay within the grace window follows the rotation chain. */
const MAX_CHAIN_WALK = 8;

/**
 * Login, issuance and refresh rotation (SPEC §3). Every decision is taken
 * inside one transaction holding the row lock it depends on; revocations are
 * published only after their commit.
 */
export class SessionService {
  constructor(private readonly deps: SessionServiceDeps) {}

  /** Password login against the built-in user store. */
  async login(username: string, password: string, transport: Transport, ctx: ClientContext): Promise<IssuedTokens> {
    const { users, passwords, audit, clock } = this.deps;
    const user = await users.findByUsernameKey(normalizeUsername(username));
    const ok = user ? await passwords.verify(user.passwordHash, password) : (await passwords.verifyDummy(password), false);
    if (!user || !ok || user.disabled) {
      const reason = !user ? "unknown_user" : !ok ? "bad_password" : "user_disabled";
      await audit.record(
        { type: "login_failure", actor: "anonymous", userId: user?.id ?? null, ...ctx, detail: { reason, username: username.slice(0, 128) } },
        clock.now(),
      );
      // One answer for every cause, so usernames cannot be enumerated.
      throw invalidGrant("invalid username or password", reason);
    }
    return this.issue(user.id, transport, ctx, { type: "login_success", actor: `user:${user.id}` });
  }

  /** Creates a session for an already-authenticated user (login, or an upstream identity service). */
  async issue(userId: string, transport: Transport, ctx: ClientContext, event: { type: string; actor: string }): Promise<IssuedTokens> {
    const { sessions, clock, policy, parseUserAgent } = this.deps;
    const refreshToken = newOpaqueToken();
    const result = await sessions.transaction(async (tx) => {
      const now = clock.now();
      const user = await tx.lockUser(userId);
      if (!user || user.disabled) throw invalidGrant("the user does not exist or is disabled");
      const evicted = await this.evictForRoom(tx, userId, now, event.actor);
      const expiries = initialExpiries(now, policy);
      const session: SessionRecord = {
        id: crypto.randomUUID(),
        userId,
        transport,
        createdAt: now,
        lastSeenAt: now,
        ...expiries,
        createdIp: ctx.ip,
        lastIp: ctx.ip,
        userAgent: ctx.userAgent,
        device: parseUserAgent(ctx.userAgent),
        deviceFlagged: false,
        deviceScore: 0,
        revokedAt: null,
        revokedReason: null,
        revokedBy: null,
      };
      await tx.insertSession(session);
      await tx.insertRefreshToken({
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
      });
      await tx.audit(
        { ...event, userId, sessionId: session.id, ...ctx, detail: { transport, evicted: evicted.sessionIds } },
        now,
      );
      return { session, now, notBefore: user.notBefore, evicted };
    });
    await this.deps.publisher.publish(result.evicted.revocations);
    const tokens = await this.tokensFor(result.session, refreshToken, result.now, result.notBefore);
    return { ...tokens, evictedSessionIds: result.evicted.sessionIds };
  }

  /**
   * Refresh rotation with reuse detection. The presented token is claimed
   * under the session's row lock: the first request rotates, concurrent and
   * retried ones within REFRESH_REUSE_GRACE converge on the same successor,
   * and anything later is reuse and revokes the session.
   */
  async refresh(refreshToken: string, transport: Transport, ctx: ClientContext): Promise<IssuedTokens> {
    const { sessions, clock, policy, users } = this.deps;
    const outcome = await sessions.transaction(async (tx) => {
      const found = await tx.findRefreshTokenByHash(hashToken(refreshToken));
      if (!found) return { kind: "fail" as const, error: invalidGrant(), revocations: [] };
      const session = await tx.lockSession(found.sessionId);
      // Re-read under the lock: a concurrent refresh may have just committed.
      const token = await tx.findRefreshTokenById(found.id);
      const now = clock.now();
      if (!session || !token) return { kind: "fail" as const, error: invalidGrant(), revocations: [] };
      if (session.transport !== transport) return { kind: "fail" as const, error: transportMismatch(), revocations: [] };
      if (sessionState(session, now) !== "live") {
        return { kind: "fail" as const, error: invalidGrant("the session has ended", sessionState(session, now)), revocations: [] };
      }
      const decision = decideRefresh(token, now, policy.refreshReuseGraceMs);
      if (decision.action === "expired") return { kind: "fail" as const, error: invalidGrant(), revocations: [] };
      if (decision.action === "reuse") {
        const revocations = await revokeSessionInTx(tx, session, now, "refresh_reuse", "system");
        await tx.audit({ type: "refresh_reuse_detected", actor: "anonymous", userId: session.userId, sessionId: session.id, ...ctx, detail: { token_id: token.id } }, now);
        return { kind: "fail" as const, error: invalidGrant("refresh token reuse detected; the session is revoked"), revocations };
      }

      const device = this.deps.parseUserAgent(ctx.userAgent);
      const change = assessDeviceChange({ device: session.device, ip: session.lastIp }, { device, ip: ctx.ip }, policy.deviceChangePolicy);
      if (change.changes.length > 0) {
        await tx.audit({ type: "device_change", actor: "anonymous", userId: session.userId, sessionId: session.id, ...ctx, detail: { ...change, before: { ...session.device, ip: session.lastIp }, after: { ...device, ip: ctx.ip } } }, now);
      }
      if (change.action === "revoke") {
        const revocations = await revokeSessionInTx(tx, session, now, "device_change", "system");
        return { kind: "fail" as const, error: invalidGrant("the session was ended because the device changed"), revocations };
      }

      let successor: string;
      let idleExpiresAt = session.idleExpiresAt;
      if (decision.action === "rotate") {
        successor = newOpaqueToken();
        const claimed = await tx.markRotated(token.id, now, sealSuccessor(refreshToken, token.id, successor));
        // Unreachable while the session lock is held; guard the invariant anyway.
        if (!claimed) throw new AppError("server_error", 500, "refresh rotation lost its claim");
        ({ idleExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, policy));
        await tx.insertRefreshToken({
          id: crypto.randomUUID(),
          hash: hashToken(successor),
          sessionId: session.id,
          parentId: token.id,
          createdAt: now,
          expiresAt: idleExpiresAt,
          rotatedAt: null,
          successorSealed: null,
          ip: ctx.ip,
          userAgent: ctx.userAgent,
        });
        await tx.audit({ type: "refresh", actor: `user:${session.userId}`, userId: session.userId, sessionId: session.id, ...ctx, detail: { token_id: token.id } }, now);
      } else {
        const tip = await this.chainTip(tx, refreshToken, token.id, token.successorSealed!);
        if (!tip) {
          const revocations = await revokeSessionInTx(tx, session, now, "refresh_reuse", "system");
          return { kind: "fail" as const, error: invalidGrant("refresh token reuse detected; the session is revoked"), revocations };
        }
        successor = tip;
      }
      const { accessExpiresAt } = slidingExpiries(session.absoluteExpiresAt, now, policy);
      const updated: SessionRecord = {
        ...session,
        lastSeenAt: now,
        lastIp: ctx.ip,
        userAgent: ctx.userAgent ?? session.userAgent,
        device: ctx.userAgent ? device : session.device,
        idleExpiresAt,
        accessExpiresAt,
        deviceFlagged: session.deviceFlagged || change.action === "flag",
        deviceScore: Math.max(session.deviceScore, change.score),
      };
      await tx.updateSession(session.id, {
        lastSeenAt: updated.lastSeenAt,
        lastIp: updated.lastIp,
        userAgent: updated.userAgent,
        device: updated.device,
        idleExpiresAt: updated.idleExpiresAt,
        accessExpiresAt: updated.accessExpiresAt,
        deviceFlagged: updated.deviceFlagged,
        deviceScore: updated.deviceScore,
      });
      return { kind: "ok" as const, session: updated, successor, now };
    });
    if (outcome.kind === "fail") {
      await this.deps.publisher.publish(outcome.revocations);
      throw outcome.error;
    }
    const user = await users.findById(outcome.session.userId);
    return { ...(await this.tokensFor(outcome.session, outcome.successor, outcome.now, user?.notBefore ?? null)), evictedSessionIds: [] };
  }

  /** Follows sealed successors from a rotated token to the live tip of its chain. */
  private async chainTip(tx: SessionTx, token: string, tokenId: string, sealed: Uint8Array): Promise<string | null> {
    let current = openSuccessor(token, tokenId, sealed);
    for (let i = 0; i < MAX_CHAIN_WALK && current !== null; i++) {
      const row = await tx.findRefreshTokenByHash(hashToken(current));
      if (!row) return null;
      if (row.rotatedAt === null) return current;
      if (row.successorSealed === null) return null;
      current = openSuccessor(current, row.id, row.successorSealed);
    }
    return null;
  }

  /** Revokes the oldest live sessions so the new one fits under MAX_SESSIONS_PER_USER. */
  private async evictForRoom(tx: SessionTx, userId: string, now: Date, actor: string) {
    const live = await tx.listLiveSessions(userId, now);
    const excess = live.length - this.deps.policy.maxSessionsPerUser + 1;
    const revocations: RevocationCommit = [];
    const sessionIds: string[] = [];
    for (const victim of live.slice(0, Math.max(0, excess))) {
      revocations.push(...(await revokeSessionInTx(tx, victim, now, "evicted", actor)));
      sessionIds.push(victim.id);
      await tx.audit({ type: "session_evicted", actor, userId, sessionId: victim.id, detail: { reason: "evicted", limit: this.deps.policy.maxSessionsPerUser } }, now);
    }
    return { sessionIds, revocations };
  }


  private async tokensFor(session: SessionRecord, refreshToken: string, now: Date, notBefore: Date | null): Promise<Omit<IssuedTokens, "evictedSessionIds">> {
    // A token must never carry an iat before a user-wide revocation it postdates.
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
