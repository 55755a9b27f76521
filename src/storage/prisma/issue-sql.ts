// The issuance hot path in raw SQL: one call of the sa_issue_session
// function (its migration says why a function), on its own or inside the
// eviction path's transaction after the user's row lock. Every parameter
// carries an explicit cast: none of the drivers sends parameter types.
import type { IssueAttempt, NewSessionWrite } from "../../domain/ports.js";
import type { UserRecord } from "../../domain/types.js";
import { sql, type SqlQueryable } from "../sql-driver.js";
import { truncate } from "./rows.js";

interface UserRow {
  id: string;
  username: string;
  password_hash: string;
  disabled: boolean;
  not_before: Date | null;
  created_at: Date;
}

/** Locks the user row and reads it in the same round trip. */
export async function lockUserRow(tx: SqlQueryable, userId: string): Promise<UserRecord | null> {
  const rows = await tx.query<UserRow>(sql`
    SELECT id, username, password_hash, disabled, not_before, created_at FROM users WHERE id = ${userId}::uuid FOR UPDATE`);
  const u = rows[0];
  if (!u) return null;
  return { id: u.id, username: u.username, passwordHash: u.password_hash, disabled: u.disabled, notBefore: u.not_before, createdAt: u.created_at };
}

/**
 * Issuance in one round trip: sa_issue_session locks the user row, counts
 * the user's live sessions under that lock in a statement of its own, and
 * inserts the session, its first refresh token and its audit row, only for
 * an existing, enabled user below the cap. Inside a transaction that holds
 * the user's lock already (the eviction path), the lock is a no-op and the
 * count sees the transaction's own evictions. Only a new session is written
 * this way: unrevoked, with a first token that has no parent and was never
 * rotated.
 *
 * The count stops at the cap and is ordered like sessions_user_live_idx.
 * sessions_revoked_at_idx holds revoked sessions only (cleanup's index): as
 * a full index, the generic plan Postgres caches for the count on a fresh
 * database took it and counted every live session of every user
 * (test/integration/query-plans.test.ts).
 */
export async function issueSessionInOneCall(db: SqlQueryable, w: NewSessionWrite): Promise<IssueAttempt> {
  const { session: s, refreshToken: t, audit: a } = w;
  if (s.revokedAt !== null || t.parentId !== null || t.rotatedAt !== null || t.successorSealed !== null) {
    throw new Error("issueSessionInOneCall writes new sessions only");
  }
  const rows = await db.query<{ found: boolean; disabled: boolean; not_before: Date | null; inserted: boolean }>(sql`
    SELECT found, disabled, not_before, inserted FROM sa_issue_session(
      ${w.now}::timestamptz, ${w.maxLive}::int,
      ${s.id}::uuid, ${s.userId}::uuid, ${s.transport}::varchar, ${s.createdAt}::timestamptz, ${s.lastSeenAt}::timestamptz,
      ${s.idleExpiresAt}::timestamptz, ${s.absoluteExpiresAt}::timestamptz, ${s.accessExpiresAt}::timestamptz,
      ${truncate(s.createdIp, 64)}::varchar, ${truncate(s.lastIp, 64)}::varchar, ${truncate(s.userAgent, 512)}::varchar,
      ${truncate(s.device.browser, 64)}::varchar, ${truncate(s.device.os, 64)}::varchar, ${truncate(s.device.type, 32)}::varchar,
      ${s.deviceFlagged}::boolean, ${s.deviceScore}::int,
      ${t.id}::uuid, ${t.hash}::bytea, ${t.createdAt}::timestamptz, ${t.expiresAt}::timestamptz,
      ${truncate(t.ip, 64)}::varchar, ${truncate(t.userAgent, 512)}::varchar,
      ${a.type}::varchar, ${a.actor.slice(0, 128)}::varchar, ${truncate(a.ip ?? null, 64)}::varchar,
      ${truncate(a.userAgent ?? null, 512)}::varchar, ${JSON.stringify(a.detail ?? {})}::jsonb)`);
  const r = rows[0];
  if (!r) throw new Error("sa_issue_session answered no row");
  return { user: r.found ? { disabled: r.disabled, notBefore: r.not_before } : null, inserted: r.inserted };
}
