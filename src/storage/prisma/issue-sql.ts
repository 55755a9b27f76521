// The issuance hot path in raw SQL: the common issuance as one call of the
// sa_issue_session function (its migration says why a function), and the
// two statements the eviction path runs inside its own transaction: the
// user's row lock with the whole user, then the session, its first refresh
// token and its audit row. Every parameter carries an explicit cast: none
// of the drivers sends parameter types.
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
 * The count of live sessions and the three inserts in one statement. The
 * count is only correct under the user's row lock taken by an earlier
 * statement: in READ COMMITTED each statement sees what was committed
 * before it started, and a concurrent login of the user commits before it
 * releases that lock. A count in the locking statement itself would use the
 * snapshot from before the wait and let two logins both pass the cap.
 *
 * Counting stops at the cap (whether the user is below it is all that
 * matters), and the ORDER BY matches sessions_user_live_idx (user_id,
 * revoked_at, created_at). sessions_revoked_at_idx holds revoked sessions
 * only (cleanup's index): as a full index, the generic plan Postgres caches
 * for this prepared statement on a fresh database took it and counted every
 * live session of every user (test/integration/query-plans.test.ts).
 */
export async function insertSessionUnderCap(tx: SqlQueryable, w: NewSessionWrite): Promise<boolean> {
  const { session: s, refreshToken: t, audit: a } = w;
  const rows = await tx.query<{ sessions: number; tokens: number; audited: number }>(sql`
    WITH live AS (
      SELECT count(*) AS n FROM (
        SELECT 1 FROM sessions
        WHERE user_id = ${s.userId}::uuid AND revoked_at IS NULL
          AND idle_expires_at > ${w.now}::timestamptz AND absolute_expires_at > ${w.now}::timestamptz
        ORDER BY created_at
        LIMIT ${w.maxLive}::int
      ) AS counted
    ), inserted AS (
      INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at,
                            access_expires_at, created_ip, last_ip, user_agent, ua_browser, ua_os, ua_device,
                            device_flagged, device_score, revoked_at, revoked_reason, revoked_by)
      SELECT ${s.id}::uuid, ${s.userId}::uuid, ${s.transport}::varchar, ${s.createdAt}::timestamptz, ${s.lastSeenAt}::timestamptz,
             ${s.idleExpiresAt}::timestamptz, ${s.absoluteExpiresAt}::timestamptz, ${s.accessExpiresAt}::timestamptz,
             ${truncate(s.createdIp, 64)}::varchar, ${truncate(s.lastIp, 64)}::varchar, ${truncate(s.userAgent, 512)}::varchar,
             ${truncate(s.device.browser, 64)}::varchar, ${truncate(s.device.os, 64)}::varchar, ${truncate(s.device.type, 32)}::varchar,
             ${s.deviceFlagged}::boolean, ${s.deviceScore}::int, ${s.revokedAt}::timestamptz, ${s.revokedReason}::varchar,
             ${s.revokedBy}::varchar
      FROM live WHERE live.n < ${w.maxLive}::int
      RETURNING id
    ), token AS (
      INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, rotated_at, successor_sealed, ip, user_agent)
      SELECT ${t.id}::uuid, inserted.id, ${t.hash}::bytea, ${t.parentId}::uuid, ${t.createdAt}::timestamptz, ${t.expiresAt}::timestamptz,
             ${t.rotatedAt}::timestamptz, ${t.successorSealed}::bytea, ${truncate(t.ip, 64)}::varchar, ${truncate(t.userAgent, 512)}::varchar
      FROM inserted
      RETURNING id
    ), audited AS (
      INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
      SELECT ${w.now}::timestamptz, ${a.type}::varchar, ${a.actor.slice(0, 128)}::varchar, ${a.userId ?? null}::uuid, ${a.sessionId ?? null}::uuid,
             ${truncate(a.ip ?? null, 64)}::varchar, ${truncate(a.userAgent ?? null, 512)}::varchar, ${JSON.stringify(a.detail ?? {})}::jsonb
      FROM inserted
      RETURNING id
    )
    SELECT (SELECT count(*) FROM inserted)::int AS sessions, (SELECT count(*) FROM token)::int AS tokens,
           (SELECT count(*) FROM audited)::int AS audited`);
  const r = rows[0];
  if (!r || r.sessions === 0) return false;
  // The token and audit rows come from the one-row `inserted`: one without the others cannot happen.
  if (r.tokens !== 1 || r.audited !== 1) throw new Error("a session was inserted without its refresh token or audit row");
  return true;
}

/**
 * The common issuance in one round trip: sa_issue_session locks the user
 * row, counts the user's live sessions under that lock in a statement of
 * its own, and inserts the session, its first refresh token and its audit
 * row, only for an existing, enabled user below the cap. Only a new
 * session is written this way: unrevoked, with a first token that has no
 * parent and was never rotated.
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
