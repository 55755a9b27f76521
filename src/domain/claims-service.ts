import { type Claims, changedClaimNames, mergeClaims, validateClaims } from "./claims.js";
import { notFound } from "./errors.js";
import { nextNotBefore, revocationEntryForUser, type RevocationCommit } from "./revocation-entries.js";
import type { RevocationServiceDeps } from "./revocation-service.js";

/**
 * A change of a user's custom claims (SPEC §11): it takes effect at once.
 * Every access token of the user issued before it is invalid everywhere,
 * by a `sub` entry with `not_before` on the revocation list, while the
 * sessions live on and their next refresh carries the new claims.
 *
 * Why no token with the old claims outlives the answer: the change takes the
 * user's row lock (serialising it with issuance), then every unrevoked
 * session's row lock (serialising it with refreshes), and only then takes
 * `not_before` past every token those sessions issued (nextNotBefore, the
 * argument of a user-wide revocation). A refresh that held a session first
 * committed a token that instant now covers; one that waited reads the row
 * this change wrote, with the new claims and `tokens_not_before`, and its
 * token is lifted past the entry. An issuance reads the user's new claims
 * and `not_before` under the user's lock.
 */
export class ClaimsService {
  constructor(private readonly deps: RevocationServiceDeps) {}

  /** Replaces the user's claims; the names whose value changed, none when the claims are the same (and nothing is revoked). */
  async setUserClaims(userId: string, input: unknown, actor: string): Promise<string[]> {
    const claims: Claims = validateClaims(input, "claims");
    const { sessions, clock, accessTokenTtlMs } = this.deps;
    const { revocations, changed } = await sessions.transaction(async (tx) => {
      const user = await tx.lockUser(userId);
      if (!user) throw notFound("no such user");
      const changed = changedClaimNames(user.claims, claims);
      if (changed.length === 0) return { revocations: [] as RevocationCommit, changed };
      const locked = await tx.lockSessionsForClaims(userId);
      // Refused (400) when a session's own claims would take the union past the limit: nothing is written.
      const rewritten = locked.map((s) => ({ id: s.id, claims: mergeClaims(claims, s.sessionClaims) }));
      const now = clock.now();
      const latestIssue = locked.reduce<Date | null>((max, s) => (max === null || s.lastSeenAt > max ? s.lastSeenAt : max), null);
      const notBefore = nextNotBefore(now, user.notBefore, latestIssue);
      await tx.setUserClaims(userId, claims, now);
      await tx.setSessionClaims(rewritten, notBefore);
      await tx.setUserNotBefore(userId, notBefore);
      const entry = revocationEntryForUser(userId, notBefore, accessTokenTtlMs);
      const [id] = await tx.insertRevocations([entry], now);
      await tx.audit({ type: "user_claims_changed", actor, userId, detail: { changed, sessions: locked.length } }, now);
      return { revocations: [{ ...entry, id: id! }] as RevocationCommit, changed };
    });
    await this.deps.publisher.publish(revocations);
    return changed;
  }
}
