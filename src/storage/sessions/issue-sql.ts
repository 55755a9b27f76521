// Issuance in SQL: the user's row lock, then the capped insert of a session,
// its first refresh token and its audit row. Every parameter carries an
// explicit cast: neither driver sends parameter types.
import { createHash } from "node:crypto";
import type { IssueAttempt, IssueLocks, IssuePlan, IssueSubject, NewSessionWrite } from "../../domain/ports.js";
import type { UserRecord } from "../../domain/types.js";
import { APPLICATION_COLUMNS, toApplicationOfRow, type ApplicationRow } from "../applications/application-rows.js";
import { LOCK_APPLICATION_SHARED } from "../applications/application-lock.js";
import { COLUMN, truncate } from "../columns.js";
import { sql, sqlText, type SqlDriver, type SqlQueryable, type Statement } from "../sql-driver.js";
import { toUserRecord, USER_COLUMNS, type UserRow } from "./session-rows.js";

const APPLICATION = sqlText(APPLICATION_COLUMNS);
const USERS = sqlText(USER_COLUMNS);
const SHARED_LOCK_NAME = `sa_${createHash("sha256").update(LOCK_APPLICATION_SHARED).digest("hex").slice(0, 24)}`;

/** Locks the user row and reads it in the same round trip. */
export async function lockUserRow(q: SqlQueryable, userId: string): Promise<UserRecord | null> {
  const rows = await q.query<UserRow>(sql`
    SELECT ${USERS} FROM users u WHERE u.id = ${userId}::uuid FOR UPDATE`);
  return rows[0] ? toUserRecord(rows[0]) : null;
}

/**
 * SessionTx.lockForIssue. The application's shared lock is a statement of
 * its own: in READ COMMITTED a statement sees what was committed when it
 * began, so the read that follows starts after the lock was granted and
 * sees any policy change that held the lock before. The user's lock and the
 * application's row come in one statement, one round trip.
 */
export async function lockForIssue(q: SqlQueryable, subject: IssueSubject, clientId: string): Promise<IssueLocks> {
  const lock: Statement = { text: LOCK_APPLICATION_SHARED, values: [clientId], name: SHARED_LOCK_NAME };
  await q.query(lock);
  let locked = await lockUserAndApplication(q, subject, clientId);
  if (!locked.user && "externalSubject" in subject) {
    await createExternalUser(q, subject);
    // A statement of its own: it sees the user whichever transaction created it.
    locked = await lockUserAndApplication(q, subject, clientId);
  }
  return locked;
}

async function lockUserAndApplication(q: SqlQueryable, subject: IssueSubject, clientId: string): Promise<IssueLocks> {
  const rows = await q.query<UserRow & ApplicationRow>(
    "userId" in subject
      ? sql`
    SELECT ${USERS}, ${APPLICATION}
    FROM users u LEFT JOIN applications a ON a.id = ${clientId}::varchar
    WHERE u.id = ${subject.userId}::uuid
    FOR UPDATE OF u`
      : sql`
    SELECT ${USERS}, ${APPLICATION}
    FROM users u LEFT JOIN applications a ON a.id = ${clientId}::varchar
    WHERE u.issuer = ${subject.issuer}::varchar AND u.external_subject = ${subject.externalSubject}::varchar
    FOR UPDATE OF u`,
  );
  const row = rows[0];
  return row ? { user: toUserRecord(row), application: toApplicationOfRow(row) } : { user: null, application: null };
}

/**
 * SPEC §11: the first issuance for an external subject creates its user,
 * with no login key and no password, audited as created by the issuing
 * client. Two first issuances at once meet on the unique (issuer,
 * external_subject): the later waits for the earlier and inserts nothing.
 */
async function createExternalUser(q: SqlQueryable, subject: { issuer: string; externalSubject: string; at: Date }): Promise<void> {
  const id = crypto.randomUUID();
  await q.query(sql`
    WITH created AS (
      INSERT INTO users (id, username, username_key, password_hash, kind, issuer, external_subject, claims, created_at, updated_at)
      VALUES (${id}::uuid, ${subject.externalSubject}::varchar, NULL, NULL, 'external', ${subject.issuer}::varchar,
              ${subject.externalSubject}::varchar, '{}'::jsonb, ${subject.at}::timestamptz, ${subject.at}::timestamptz)
      ON CONFLICT (issuer, external_subject) DO NOTHING
      RETURNING id, created_at
    )
    INSERT INTO audit_events (at, type, actor, user_id, detail)
    SELECT created.created_at, 'user_created', ${`client:${subject.issuer}`.slice(0, COLUMN.actor)}::varchar, created.id,
           jsonb_build_object('kind', 'external', 'issuer', ${subject.issuer}::varchar, 'external_subject', ${subject.externalSubject}::varchar)
    FROM created`);
}

/**
 * Inserts a new session, its first refresh token and its audit row only
 * while the user has fewer than `maxLive` live sessions of the session's
 * application (SPEC §3: the limit is per user and application). It must
 * follow the user's row lock in the same transaction: in READ COMMITTED this
 * statement takes its snapshot after the lock was granted, so the count sees
 * every session committed before, and the transaction's own evictions.
 *
 * The count stops at the cap and is ordered like sessions_client_live_idx,
 * (client_id, user_id, created_at) of live sessions only: filtering on the
 * user alone let the generic plan take that index by its leading client_id
 * and count every live session of every user of the application
 * (test/integration/query-plans.test.ts).
 */
const jsonOrNull = (v: object | null) => (v === null ? null : JSON.stringify(v));

export async function insertSessionUnderCap(q: SqlQueryable, w: NewSessionWrite): Promise<boolean> {
  const { session: s, refreshToken: t, audit: a } = w;
  if (s.revokedAt !== null || t.parentId !== null || t.rotatedAt !== null || t.successorSealed !== null) {
    throw new Error("insertSessionUnderCap writes new sessions only");
  }
  const rows = await q.query<{ inserted: number }>(sql`
    WITH room AS (
      SELECT 1 WHERE (
        SELECT count(*) FROM (
          SELECT 1 FROM sessions
          WHERE client_id = ${s.clientId}::varchar AND user_id = ${s.userId}::uuid AND revoked_at IS NULL
            AND idle_expires_at > ${w.now}::timestamptz AND absolute_expires_at > ${w.now}::timestamptz
          ORDER BY created_at
          LIMIT ${w.maxLive}::int
        ) AS counted
      ) < ${w.maxLive}::int
    ), session AS (
      INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at,
                            access_expires_at, created_ip, last_ip, user_agent, ua_browser, ua_os, ua_device,
                            device_flagged, device_score, client_id, access_ttl_ms, idle_ttl_ms,
                            auth_time, amr, acr, session_claims, claims)
      SELECT ${s.id}::uuid, ${s.userId}::uuid, ${s.transport}::varchar, ${s.createdAt}::timestamptz, ${s.lastSeenAt}::timestamptz,
             ${s.idleExpiresAt}::timestamptz, ${s.absoluteExpiresAt}::timestamptz, ${s.accessExpiresAt}::timestamptz,
             ${truncate(s.createdIp, COLUMN.ip)}::varchar, ${truncate(s.lastIp, COLUMN.ip)}::varchar,
             ${truncate(s.userAgent, COLUMN.userAgent)}::varchar, ${truncate(s.device.browser, COLUMN.uaBrowser)}::varchar,
             ${truncate(s.device.os, COLUMN.uaOs)}::varchar, ${truncate(s.device.type, COLUMN.uaDevice)}::varchar,
             ${s.deviceFlagged}::boolean, ${s.deviceScore}::int, ${s.clientId}::varchar, ${s.accessTtlMs}::bigint,
             ${s.idleTtlMs}::bigint, ${s.authentication.authTime}::timestamptz, ${s.authentication.amr}::varchar[],
             ${s.authentication.acr}::varchar, ${jsonOrNull(s.sessionClaims)}::jsonb, ${jsonOrNull(s.claims)}::jsonb
      FROM room
      RETURNING id
    ), token AS (
      INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, ip, user_agent)
      SELECT ${t.id}::uuid, session.id, ${t.hash}::bytea, NULL, ${t.createdAt}::timestamptz, ${t.expiresAt}::timestamptz,
             ${truncate(t.ip, COLUMN.ip)}::varchar, ${truncate(t.userAgent, COLUMN.userAgent)}::varchar
      FROM session
      RETURNING id
    ), audited AS (
      INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
      SELECT ${w.now}::timestamptz, ${a.type}::varchar, ${a.actor.slice(0, COLUMN.actor)}::varchar, ${s.userId}::uuid, session.id,
             ${truncate(a.ip ?? null, COLUMN.ip)}::varchar, ${truncate(a.userAgent ?? null, COLUMN.userAgent)}::varchar,
             ${JSON.stringify(a.detail ?? {})}::jsonb
      FROM session
      RETURNING id
    )
    SELECT (SELECT count(*) FROM session)::int + (SELECT count(*) FROM token)::int + (SELECT count(*) FROM audited)::int AS inserted`);
  const inserted = rows[0]?.inserted ?? 0;
  if (inserted !== 0 && inserted !== 3) throw new Error("an issuance wrote part of its rows");
  return inserted === 3;
}

/**
 * The common issuance: one short transaction that takes the application's
 * and the user's locks, plans the session on the application found, and
 * writes it only for an existing, enabled user below the limit.
 */
export function issueSession(driver: SqlDriver, subject: IssueSubject, clientId: string, plan: IssuePlan): Promise<IssueAttempt> {
  return driver.transaction(async (q) => {
    const { user, application } = await lockForIssue(q, subject, clientId);
    if (!user || user.disabled) return { user, write: null, inserted: false };
    const write = plan(application, user);
    if (write.session.userId !== user.id || write.session.clientId !== clientId)
      throw new Error("an issuance planned another user's or application's session");
    return { user, write, inserted: await insertSessionUnderCap(q, write) };
  });
}
