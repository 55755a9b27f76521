import type { Clock } from "./clock.js";
import { notFound } from "./errors.js";
import type { RevocationPublisher, SessionStore } from "./ports.js";
import { nextNotBefore, revocationEntryForUser, revokeSessionInTx, type RevocationCommit } from "./revocation-entries.js";
import type { RevocationReason } from "./types.js";

export interface RevocationServiceDeps {
  sessions: SessionStore;
  publisher: RevocationPublisher;
  clock: Clock;
  accessTokenTtlMs: number;
}

/**
 * Ends sessions: one, all of a user's, or all but one (SPEC §3, §4). Postgres
 * first, inside a transaction; the list entries are published after commit,
 * so an answer to the caller means the revocation is durable.
 */
export class RevocationService {
  constructor(private readonly deps: RevocationServiceDeps) {}

  /**
   * Key compromise (SPEC §14): a `kid` entry that stops every token the key
   * signed, living until the last of them expires, announced like any other.
   */
  async revokeKey(kid: string, expiresAt: Date, actor: string, detail: Record<string, unknown>): Promise<void> {
    const revocations = await this.deps.sessions.transaction(async (tx) => {
      const now = this.deps.clock.now();
      const entry = { kind: "kid" as const, subject: kid, expiresAt };
      const [id] = await tx.insertRevocations([entry], now);
      await tx.audit({ type: "key_revoked", actor, detail: { kid, ...detail } }, now);
      return [{ ...entry, id: id! }];
    });
    await this.deps.publisher.publish(revocations);
  }

  /**
   * Revokes one session. With `ownerUserId`, someone else's session is
   * reported as not found (SPEC §5: DELETE /sessions/:id).
   */
  async revokeSession(sessionId: string, reason: RevocationReason, actor: string, ownerUserId?: string): Promise<void> {
    const revocations = await this.deps.sessions.transaction(async (tx) => {
      const session = await tx.lockSession(sessionId);
      if (!session || (ownerUserId !== undefined && session.userId !== ownerUserId)) throw notFound("no such session");
      return revokeSessionInTx(tx, session, this.deps.clock.now(), reason, actor);
    });
    await this.deps.publisher.publish(revocations);
  }

  /**
   * Revokes every session of a user with one "not before" entry instead of
   * one entry per session (SPEC §3: user-wide revocation).
   */
  async revokeUser(userId: string, reason: RevocationReason, actor: string): Promise<number> {
    const { revocations, count } = await this.deps.sessions.transaction(async (tx) => {
      // User first (serialises with logins), then its sessions (with refreshes): see nextNotBefore.
      const user = await tx.lockUser(userId);
      if (!user) throw notFound("no such user");
      const revoked = await tx.revokeUserSessions(userId, this.deps.clock.now(), reason, actor);
      const now = this.deps.clock.now();
      const latestIssue = revoked.reduce<Date | null>((max, s) => (max === null || s.lastSeenAt > max ? s.lastSeenAt : max), null);
      const notBefore = nextNotBefore(now, user.notBefore, latestIssue);
      await tx.setUserNotBefore(userId, notBefore);
      const entry = revocationEntryForUser(userId, notBefore, this.deps.accessTokenTtlMs);
      const [id] = await tx.insertRevocations([entry], now);
      await tx.audit(
        {
          type: "user_sessions_revoked",
          actor,
          userId,
          detail: { reason, sessions: revoked.map((s) => s.id), client_ids: revoked.map((s) => s.clientId) },
        },
        now,
      );
      return { revocations: [{ ...entry, id: id! }] as RevocationCommit, count: revoked.length };
    });
    await this.deps.publisher.publish(revocations);
    return count;
  }

  /** Revokes every other session of the user (DELETE /sessions?except=current). */
  async revokeOtherSessions(userId: string, keepSessionId: string, reason: RevocationReason, actor: string): Promise<number> {
    const { revocations, count } = await this.deps.sessions.transaction(async (tx) => {
      const now = this.deps.clock.now();
      await tx.lockUser(userId);
      const others = (await tx.listLiveSessions(userId, now)).filter((s) => s.id !== keepSessionId);
      // Each is locked by its own revoking statement, which also bounds its entry.
      const all: RevocationCommit = [];
      for (const s of others) all.push(...(await revokeSessionInTx(tx, s, now, reason, actor)));
      return { revocations: all, count: others.length };
    });
    await this.deps.publisher.publish(revocations);
    return count;
  }
}
