import type { SessionTx } from "./ports.js";
import type { RevocationEntry, RevocationReason, SessionRecord } from "./types.js";

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
  await tx.audit(
    { type: "session_revoked", actor: by, userId: session.userId, sessionId: session.id, detail: { reason, client_id: revoked.clientId } },
    now,
  );
  const entry = revocationEntryForSession(revoked, now);
  if (!entry) return [];
  const [id] = await tx.insertRevocations([entry], now);
  return [{ ...entry, id: id! }];
}
