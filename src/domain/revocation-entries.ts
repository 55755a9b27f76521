import type { RevokedSession, SessionTx } from "./ports.js";
import type { AuditEventInput, RevocationEntry, RevocationReason, SessionRecord } from "./types.js";

/**
 * The instant of a new user-wide revocation: tokens of the user with
 * `iat < ceil(not_before)` are revoked (whole-second `iat`, RFC 7519).
 *
 * Why no interleaving escapes it. It is taken only once the user row and
 * every unrevoked session of the user are locked (revokeUser), and it is
 * later than every instant a token of those sessions was issued at:
 * - a session's `last_seen_at` is the largest `now` any of its tokens was
 *   issued at (it only moves forward, whatever the instances' clocks), and
 *   a refresh that committed before the locks is in it;
 * - a token lifted to `ceil(previous)` (issued just after an earlier
 *   revocation) is past `previous` only by that second, so the new instant
 *   lands past it;
 * - a refresh that had not committed waits for the session lock, then finds
 *   the session revoked and writes nothing; issuance waits for the user lock.
 * A token whose `iat` was lifted to a `not_before` read that token's session
 * or user lock, never after its transaction, so no token of a revoked
 * session is ever lifted past the revocation.
 */
export function nextNotBefore(now: Date, previous: Date | null, latestIssue: Date | null): Date {
  let at = now.getTime();
  if (latestIssue) at = Math.max(at, latestIssue.getTime() + 1);
  if (previous) at = Math.max(at, Math.ceil(previous.getTime() / 1000) * 1000 + 1);
  return new Date(at);
}

/** Revocation-list entries written in a transaction, with their outbox ids. */
export type RevocationCommit = Array<RevocationEntry & { id: bigint }>;

/**
 * The list entry that stops a revoked session's access tokens. It lives only
 * as long as the newest of them would have (SPEC §4): none is needed when
 * they have all expired.
 */
export function revocationEntryForSession(session: Pick<SessionRecord, "id" | "accessExpiresAt">, now: Date): RevocationEntry | null {
  if (session.accessExpiresAt <= now) return null;
  return { kind: "sid", subject: session.id, expiresAt: session.accessExpiresAt };
}

/**
 * "Tokens of this session issued before now are invalid", while the session
 * lives on: its current access token outlives a shortened limit (SPEC §10).
 * The instant is past every token the session issued (nextNotBefore), and
 * the entry lives as long as the newest of them.
 */
export function revocationEntryBefore(session: Pick<SessionRecord, "id" | "lastSeenAt" | "accessExpiresAt">, now: Date): RevocationEntry {
  return { kind: "sid", subject: session.id, notBefore: nextNotBefore(now, null, session.lastSeenAt), expiresAt: session.accessExpiresAt };
}

/**
 * "Tokens of this user issued before now are invalid": one entry per user,
 * living as long as any such token could (SPEC §3, user-wide revocation).
 */
export function revocationEntryForUser(userId: string, now: Date, accessTokenTtlMs: number): RevocationEntry {
  return { kind: "sub", subject: userId, notBefore: now, expiresAt: new Date(now.getTime() + accessTokenTtlMs) };
}

/**
 * Revokes one session inside a transaction and records its list entry and
 * audit event. The entry lasts as long as the session's newest access token
 * as the revoking statement found it under the row lock, not as an earlier
 * unlocked read saw it: a refresh may have committed in between.
 */
export async function revokeSessionInTx(
  tx: SessionTx,
  session: Pick<SessionRecord, "id" | "userId">,
  now: Date,
  reason: RevocationReason,
  by: string,
): Promise<RevocationCommit> {
  const revoked = await tx.revokeSession(session.id, now, reason, by);
  if (!revoked) return [];
  await tx.audit(sessionRevokedEvent(revoked, reason, by), now);
  const entry = revocationEntryForSession(revoked, now);
  if (!entry) return [];
  const [id] = await tx.insertRevocations([entry], now);
  return [{ ...entry, id: id! }];
}

/** The audit event of one revoked session (a `session.revoked` webhook, SPEC §14). */
const sessionRevokedEvent = (
  s: Pick<RevokedSession, "id" | "userId" | "clientId">,
  reason: RevocationReason,
  by: string,
): AuditEventInput => ({
  type: "session_revoked",
  actor: by,
  userId: s.userId,
  sessionId: s.id,
  detail: { reason, client_id: s.clientId },
});

/**
 * What revokeSessionInTx records after its revoking statement, for many
 * sessions a set-based statement has already marked revoked under their row
 * locks: one audit event each and the list entries of those whose access
 * tokens are still live, written in one statement each.
 */
export async function recordRevokedSessions(
  tx: SessionTx,
  revoked: readonly RevokedSession[],
  now: Date,
  reason: RevocationReason,
  by: string,
): Promise<RevocationCommit> {
  if (revoked.length === 0) return [];
  await tx.auditMany(
    revoked.map((s) => sessionRevokedEvent(s, reason, by)),
    now,
  );
  const entries = revoked.map((s) => revocationEntryForSession(s, now)).filter((e): e is RevocationEntry => e !== null);
  return tx.insertRevocationBatch(entries, now);
}
