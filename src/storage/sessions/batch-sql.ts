// Set-based writes of many revocation entries or audit rows in one
// statement each (a policy change can end thousands of sessions): arrays in,
// unnest on the server, one round trip whatever the count.
import type { RevocationCommit } from "../../domain/revocation-entries.js";
import type { AuditEventInput, RevocationEntry } from "../../domain/types.js";
import { COLUMN, truncate } from "../columns.js";
import { sql, type SqlQueryable } from "../sql-driver.js";

interface InsertedRow {
  id: string | bigint;
  kind: string;
  subject: string;
  not_before: Date | null;
  expires_at: Date;
}

const toCommitted = (r: InsertedRow): RevocationCommit[number] => {
  const id = BigInt(r.id);
  if (r.kind === "sub") return { id, kind: "sub", subject: r.subject, notBefore: r.not_before ?? r.expires_at, expiresAt: r.expires_at };
  if (r.kind === "kid") return { id, kind: "kid", subject: r.subject, expiresAt: r.expires_at };
  return { id, kind: "sid", subject: r.subject, expiresAt: r.expires_at, ...(r.not_before ? { notBefore: r.not_before } : {}) };
};

/** Inserts list entries (the durable outbox) and returns them as committed, with their ids. */
export async function insertRevocationBatch(q: SqlQueryable, entries: readonly RevocationEntry[], now: Date): Promise<RevocationCommit> {
  if (entries.length === 0) return [];
  const rows = await q.query<InsertedRow>(sql`
    INSERT INTO revocations (kind, subject, not_before, expires_at, created_at)
    SELECT k, s, nb, exp, ${now}::timestamptz
    FROM unnest(${entries.map((e) => e.kind)}::varchar[], ${entries.map((e) => e.subject)}::varchar[],
                ${entries.map((e) => (e.kind === "kid" ? null : (e.notBefore ?? null)))}::timestamptz[],
                ${entries.map((e) => e.expiresAt)}::timestamptz[]) AS e(k, s, nb, exp)
    RETURNING id, kind, subject, not_before, expires_at`);
  return rows.map(toCommitted);
}

/** Inserts audit rows, all at one instant (the webhook trigger fires for each, as for single inserts). */
export async function insertAuditBatch(q: SqlQueryable, events: readonly AuditEventInput[], at: Date): Promise<void> {
  if (events.length === 0) return;
  await q.query(sql`
    INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
    SELECT ${at}::timestamptz, t, a, u, s, i, ua, d
    FROM unnest(${events.map((e) => e.type)}::varchar[], ${events.map((e) => e.actor.slice(0, COLUMN.actor))}::varchar[],
                ${events.map((e) => e.userId ?? null)}::uuid[], ${events.map((e) => e.sessionId ?? null)}::uuid[],
                ${events.map((e) => truncate(e.ip ?? null, COLUMN.ip))}::varchar[],
                ${events.map((e) => truncate(e.userAgent ?? null, COLUMN.userAgent))}::varchar[],
                ${events.map((e) => JSON.stringify(e.detail ?? {}))}::jsonb[]) AS e(t, a, u, s, i, ua, d)`);
}
