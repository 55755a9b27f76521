// A change of a user's claims (SPEC §11) in SQL: the user's row, then every
// unrevoked session of the user locked and rewritten. It runs after the
// user's row lock in the same transaction (claims-service.ts).
import type { Claims } from "../../domain/claims.js";
import type { ClaimsOfSession } from "../../domain/ports.js";
import { sql, type SqlQueryable } from "../sql-driver.js";

export async function setUserClaims(q: SqlQueryable, userId: string, claims: Claims, at: Date): Promise<void> {
  await q.query(
    sql`UPDATE users SET claims = ${JSON.stringify(claims)}::jsonb, updated_at = ${at}::timestamptz WHERE id = ${userId}::uuid`,
  );
}

/**
 * Locks every unrevoked session of the user, in id order, and reads each as
 * the last committed write left it: a refresh that held a row first has
 * committed, and its `last_seen_at` is in what this returns.
 */
export async function lockSessionsForClaims(q: SqlQueryable, userId: string): Promise<ClaimsOfSession[]> {
  const rows = await q.query<{ id: string; session_claims: Claims | null; last_seen_at: Date; access_expires_at: Date }>(sql`
    SELECT id, session_claims, last_seen_at, access_expires_at FROM sessions
    WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
    ORDER BY id
    FOR UPDATE`);
  return rows.map((r) => ({ id: r.id, sessionClaims: r.session_claims, lastSeenAt: r.last_seen_at, accessExpiresAt: r.access_expires_at }));
}

/** One statement for all of them; tokens_not_before only moves forward (GREATEST ignores NULL). */
export async function setSessionClaims(
  q: SqlQueryable,
  sessions: ReadonlyArray<{ id: string; claims: Claims | null }>,
  tokensNotBefore: Date,
): Promise<void> {
  if (sessions.length === 0) return;
  await q.query(sql`
    UPDATE sessions SET claims = c.claims,
           tokens_not_before = GREATEST(tokens_not_before, ${tokensNotBefore}::timestamptz)
    FROM unnest(${sessions.map((s) => s.id)}::uuid[], ${sessions.map((s) => (s.claims === null ? null : JSON.stringify(s.claims)))}::jsonb[])
         AS c(id, claims)
    WHERE sessions.id = c.id`);
}
