// The session aggregate's one repository: sessions, their refresh tokens,
// their revocation-list entries and their audit rows, written in SQL on the
// driver it is given, on Postgres and embedded PGlite alike (SPEC §1).
import type { SessionStore, SessionTx } from "../../domain/ports.js";
import { COLUMN, truncate } from "../columns.js";
import { sql, sqlText, type SqlDriver, type SqlQueryable } from "../sql-driver.js";
import { insertAuditBatch, insertRevocationBatch } from "./batch-sql.js";
import { lockSessionsForClaims, setSessionClaims, setUserClaims } from "./claims-sql.js";
import { rotateFast } from "./fast-path-sql.js";
import { insertSessionUnderCap, issueSession, lockForIssue, lockUserRow } from "./issue-sql.js";
import { SESSION_COLUMNS, TOKEN_COLUMNS, toRefreshTokenRecord, toSessionRecord, type SessionRow, type TokenRow } from "./session-rows.js";

const SESSION = sqlText(SESSION_COLUMNS);
const TOKEN = sqlText(TOKEN_COLUMNS);

interface RevokedRow {
  id: string;
  user_id: string;
  client_id: string;
  last_seen_at: Date;
  access_expires_at: Date;
}

const toRevoked = (r: RevokedRow) => ({
  id: r.id,
  userId: r.user_id,
  clientId: r.client_id,
  lastSeenAt: r.last_seen_at,
  accessExpiresAt: r.access_expires_at,
});

async function findTokenByHash(q: SqlQueryable, hash: Uint8Array) {
  const rows = await q.query<TokenRow>(sql`SELECT ${TOKEN} FROM refresh_tokens t WHERE t.token_hash = ${hash}::bytea`);
  return rows[0] ? toRefreshTokenRecord(rows[0]) : null;
}

async function liveSessions(q: SqlQueryable, userId: string, now: Date, newestFirst: boolean) {
  const rows = newestFirst
    ? await q.query<SessionRow>(sql`
        SELECT ${SESSION} FROM sessions s
        WHERE s.user_id = ${userId}::uuid AND s.revoked_at IS NULL
          AND s.idle_expires_at > ${now}::timestamptz AND s.absolute_expires_at > ${now}::timestamptz
        ORDER BY s.created_at DESC`)
    : await q.query<SessionRow>(sql`
        SELECT ${SESSION} FROM sessions s
        WHERE s.user_id = ${userId}::uuid AND s.revoked_at IS NULL
          AND s.idle_expires_at > ${now}::timestamptz AND s.absolute_expires_at > ${now}::timestamptz
        ORDER BY s.created_at`);
  return rows.map(toSessionRecord);
}

/** The live sessions of one user of one application, oldest first: the ones the session limit counts. */
async function liveSessionsOfApp(q: SqlQueryable, clientId: string, userId: string, now: Date) {
  const rows = await q.query<SessionRow>(sql`
    SELECT ${SESSION} FROM sessions s
    WHERE s.client_id = ${clientId}::varchar AND s.user_id = ${userId}::uuid AND s.revoked_at IS NULL
      AND s.idle_expires_at > ${now}::timestamptz AND s.absolute_expires_at > ${now}::timestamptz
    ORDER BY s.created_at`);
  return rows.map(toSessionRecord);
}

/** The session aggregate's writes on one transaction's connection (also the base of a policy change's transaction). */
export function sessionTx(q: SqlQueryable): SessionTx {
  return {
    lockUser: (userId) => lockUserRow(q, userId),
    lockForIssue: (userId, clientId) => lockForIssue(q, userId, clientId),
    async lockSession(sessionId) {
      const rows = await q.query<SessionRow>(sql`SELECT ${SESSION} FROM sessions s WHERE s.id = ${sessionId}::uuid FOR UPDATE`);
      return rows[0] ? toSessionRecord(rows[0]) : null;
    },
    async userNotBefore(userId) {
      const rows = await q.query<{ not_before: Date | null }>(sql`SELECT not_before FROM users WHERE id = ${userId}::uuid`);
      return rows[0]?.not_before ?? null;
    },
    listLiveSessions: (userId, now) => liveSessions(q, userId, now, false),
    listLiveSessionsOfApp: (clientId, userId, now) => liveSessionsOfApp(q, clientId, userId, now),
    async updateSession(sessionId, p) {
      // last_seen_at and access_expires_at only move forward: they bound the tokens issued (fast-path-sql.ts).
      await q.query(sql`
        UPDATE sessions SET
          last_seen_at = GREATEST(last_seen_at, COALESCE(${p.lastSeenAt ?? null}::timestamptz, last_seen_at)),
          access_expires_at = GREATEST(access_expires_at, COALESCE(${p.accessExpiresAt ?? null}::timestamptz, access_expires_at)),
          idle_expires_at = COALESCE(${p.idleExpiresAt ?? null}::timestamptz, idle_expires_at),
          last_ip = CASE WHEN ${p.lastIp !== undefined}::boolean THEN ${truncate(p.lastIp ?? null, COLUMN.ip)}::varchar ELSE last_ip END,
          user_agent = CASE WHEN ${p.userAgent !== undefined}::boolean THEN ${truncate(p.userAgent ?? null, COLUMN.userAgent)}::varchar ELSE user_agent END,
          ua_browser = CASE WHEN ${p.device !== undefined}::boolean THEN ${truncate(p.device?.browser ?? null, COLUMN.uaBrowser)}::varchar ELSE ua_browser END,
          ua_os = CASE WHEN ${p.device !== undefined}::boolean THEN ${truncate(p.device?.os ?? null, COLUMN.uaOs)}::varchar ELSE ua_os END,
          ua_device = CASE WHEN ${p.device !== undefined}::boolean THEN ${truncate(p.device?.type ?? null, COLUMN.uaDevice)}::varchar ELSE ua_device END,
          device_flagged = COALESCE(${p.deviceFlagged ?? null}::boolean, device_flagged),
          device_score = COALESCE(${p.deviceScore ?? null}::int, device_score)
        WHERE id = ${sessionId}::uuid`);
    },
    async revokeSession(sessionId, at, reason, by) {
      const rows = await q.query<RevokedRow>(sql`
        UPDATE sessions SET revoked_at = ${at}::timestamptz, revoked_reason = ${reason}::varchar, revoked_by = ${by.slice(0, COLUMN.actor)}::varchar
        WHERE id = ${sessionId}::uuid AND revoked_at IS NULL
        RETURNING id, user_id, client_id, last_seen_at, access_expires_at`);
      return rows[0] ? toRevoked(rows[0]) : null;
    },
    async revokeUserSessions(userId, at, reason, by) {
      // An UPDATE locks each row and returns it as the last committed write left it.
      const rows = await q.query<RevokedRow>(sql`
        UPDATE sessions SET revoked_at = ${at}::timestamptz, revoked_reason = ${reason}::varchar, revoked_by = ${by.slice(0, COLUMN.actor)}::varchar
        WHERE user_id = ${userId}::uuid AND revoked_at IS NULL
        RETURNING id, user_id, client_id, last_seen_at, access_expires_at`);
      return rows.map(toRevoked);
    },
    async setUserNotBefore(userId, at) {
      await q.query(sql`UPDATE users SET not_before = ${at}::timestamptz, updated_at = ${at}::timestamptz WHERE id = ${userId}::uuid`);
    },
    setUserClaims: (userId, claims, at) => setUserClaims(q, userId, claims, at),
    lockSessionsForClaims: (userId) => lockSessionsForClaims(q, userId),
    setSessionClaims: (sessions, tokensNotBefore) => setSessionClaims(q, sessions, tokensNotBefore),
    findRefreshTokenByHash: (hash) => findTokenByHash(q, hash),
    async findRefreshTokenById(id) {
      const rows = await q.query<TokenRow>(sql`SELECT ${TOKEN} FROM refresh_tokens t WHERE t.id = ${id}::uuid`);
      return rows[0] ? toRefreshTokenRecord(rows[0]) : null;
    },
    async insertRefreshToken(t) {
      await q.query(sql`
        INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, rotated_at, successor_sealed, ip, user_agent)
        VALUES (${t.id}::uuid, ${t.sessionId}::uuid, ${t.hash}::bytea, ${t.parentId}::uuid, ${t.createdAt}::timestamptz,
                ${t.expiresAt}::timestamptz, ${t.rotatedAt}::timestamptz, ${t.successorSealed}::bytea,
                ${truncate(t.ip, COLUMN.ip)}::varchar, ${truncate(t.userAgent, COLUMN.userAgent)}::varchar)`);
    },
    async markRotated(tokenId, at, successorSealed) {
      const rows = await q.query<{ id: string }>(sql`
        UPDATE refresh_tokens SET rotated_at = ${at}::timestamptz, successor_sealed = ${successorSealed}::bytea
        WHERE id = ${tokenId}::uuid AND rotated_at IS NULL RETURNING id`);
      return rows.length === 1;
    },
    insertSessionUnderCap: (input) => insertSessionUnderCap(q, input),
    async insertRevocations(entries, now) {
      const ids: bigint[] = [];
      for (const e of entries) {
        const rows = await q.query<{ id: string | bigint }>(sql`
          INSERT INTO revocations (kind, subject, not_before, expires_at, created_at)
          VALUES (${e.kind}::varchar, ${e.subject}::varchar, ${e.kind === "kid" ? null : (e.notBefore ?? null)}::timestamptz,
                  ${e.expiresAt}::timestamptz, ${now}::timestamptz)
          RETURNING id`);
        ids.push(BigInt(rows[0]!.id));
      }
      return ids;
    },
    insertRevocationBatch: (entries, now) => insertRevocationBatch(q, entries, now),
    auditMany: (events, at) => insertAuditBatch(q, events, at),
    async audit(e, at) {
      await q.query(sql`
        INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
        VALUES (${at}::timestamptz, ${e.type}::varchar, ${e.actor.slice(0, COLUMN.actor)}::varchar, ${e.userId ?? null}::uuid,
                ${e.sessionId ?? null}::uuid, ${truncate(e.ip ?? null, COLUMN.ip)}::varchar,
                ${truncate(e.userAgent ?? null, COLUMN.userAgent)}::varchar, ${JSON.stringify(e.detail ?? {})}::jsonb)`);
    },
  };
}

/** The SessionStore on an explicitly passed driver: every session write, in one mechanism. */
export function createSessionRepository(driver: SqlDriver): SessionStore {
  return {
    transaction: (work) => driver.transaction((q) => work(sessionTx(q))),
    rotateFast: (write) => rotateFast(driver, write),
    issueSession: (subject, clientId, plan) => issueSession(driver, subject, clientId, plan),
    async findSession(sessionId) {
      const rows = await driver.query<SessionRow>(sql`SELECT ${SESSION} FROM sessions s WHERE s.id = ${sessionId}::uuid`);
      return rows[0] ? toSessionRecord(rows[0]) : null;
    },
    async sessionNotBefore(sessionId, now) {
      const rows = await driver.query<{ nb: Date | null }>(sql`
        SELECT max(not_before) AS nb FROM revocations
        WHERE kind = 'sid' AND subject = ${sessionId}::varchar AND not_before IS NOT NULL AND expires_at > ${now}::timestamptz`);
      return rows[0]?.nb ?? null;
    },
    listLiveSessions: (userId, now) => liveSessions(driver, userId, now, true),
    findRefreshTokenByHash: (hash) => findTokenByHash(driver, hash),
  };
}
