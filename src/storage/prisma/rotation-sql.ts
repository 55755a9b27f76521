// The refresh hot path in raw SQL: one read, then one atomic write, on the
// native driver (sql-driver.ts), so the same statements run on Postgres and
// embedded PGlite. Every parameter carries an explicit cast: none of the
// drivers sends parameter types.
import type { RefreshContext, RotationOutcome, RotationWrite } from "../../domain/ports.js";
import type { Transport } from "../../domain/types.js";
import { sql, type SqlQueryable } from "../sql-driver.js";
import { truncate } from "./rows.js";

interface ContextRow {
  t_id: string;
  t_session_id: string;
  t_expires_at: Date;
  t_rotated_at: Date | null;
  t_successor_sealed: Uint8Array | null;
  s_user_id: string;
  s_transport: string;
  s_idle_expires_at: Date;
  s_absolute_expires_at: Date;
  s_revoked_at: Date | null;
  s_last_ip: string | null;
  s_user_agent: string | null;
  s_ua_browser: string | null;
  s_ua_os: string | null;
  s_ua_device: string | null;
}

/**
 * The presented token with its session in one round trip and without a
 * lock: the caller decides on this snapshot and the write re-checks what
 * matters atomically. Only the columns that decision needs.
 */
export async function readRefreshContext(db: SqlQueryable, hash: Uint8Array): Promise<RefreshContext | null> {
  const rows = await db.query<ContextRow>(sql`
    SELECT t.id AS t_id, t.session_id AS t_session_id, t.expires_at AS t_expires_at, t.rotated_at AS t_rotated_at,
           t.successor_sealed AS t_successor_sealed,
           s.user_id AS s_user_id, s.transport AS s_transport, s.idle_expires_at AS s_idle_expires_at,
           s.absolute_expires_at AS s_absolute_expires_at, s.revoked_at AS s_revoked_at, s.last_ip AS s_last_ip,
           s.user_agent AS s_user_agent, s.ua_browser AS s_ua_browser, s.ua_os AS s_ua_os, s.ua_device AS s_ua_device
    FROM refresh_tokens t
    JOIN sessions s ON s.id = t.session_id
    WHERE t.token_hash = ${hash}::bytea`);
  const r = rows[0];
  if (!r) return null;
  return {
    token: { id: r.t_id, sessionId: r.t_session_id, expiresAt: r.t_expires_at, rotatedAt: r.t_rotated_at, successorSealed: r.t_successor_sealed },
    session: {
      id: r.t_session_id,
      userId: r.s_user_id,
      transport: r.s_transport as Transport,
      idleExpiresAt: r.s_idle_expires_at,
      absoluteExpiresAt: r.s_absolute_expires_at,
      revokedAt: r.s_revoked_at,
      lastIp: r.s_last_ip,
      userAgent: r.s_user_agent,
      device: { browser: r.s_ua_browser, os: r.s_ua_os, type: r.s_ua_device },
    },
  };
}

/**
 * An ordinary rotation as one autocommit statement, all or nothing:
 *
 * 1. `live` locks the session row, only if it is still unrevoked and
 *    unexpired at `now`. In READ COMMITTED a concurrent revocation holding
 *    the row makes this wait and then re-check the committed row, so a
 *    revocation that commits first always wins. The session is locked before
 *    the token, the order the locked transaction path uses too, so the two
 *    paths cannot deadlock.
 * 2. `claim` sets rotated_at on the presented token only if it is still
 *    unset and the session passed (1): the atomic claim (LESSONS.md). A
 *    concurrent winner makes it re-check the committed row and match nothing.
 *    (1) is a one-time filter evaluated before the token row is touched,
 *    and the token is found by its primary key alone (a token's session
 *    never changes): matching on session_id would let the planner walk the
 *    session's whole rotation chain through its index.
 * 3. Only rows that came out of the claim feed the session update, the
 *    successor insert and the audit row, so a lost claim or a dead session
 *    writes nothing at all.
 *
 * Device flags and scores are left as they are: this path only runs when
 * the request showed no device change, and must not overwrite a flag that
 * a concurrent request set.
 */
export async function rotateRefreshToken(db: SqlQueryable, w: RotationWrite): Promise<RotationOutcome> {
  const { session: patch, successor: next, audit } = w;
  // null keeps the stored value (a request without a user agent), as the locked path does.
  const ua = truncate(patch.userAgent, 512);
  const device = patch.device;
  const rows = await db.query<{ rotated: number; audited: number; not_before: Date | null }>(sql`
    WITH live AS (
      SELECT id FROM sessions
      WHERE id = ${w.sessionId}::uuid AND revoked_at IS NULL
        AND idle_expires_at > ${w.now}::timestamptz AND absolute_expires_at > ${w.now}::timestamptz
      FOR UPDATE
    ), claim AS (
      UPDATE refresh_tokens SET rotated_at = ${w.now}::timestamptz, successor_sealed = ${w.successorSealed}::bytea
      WHERE id = ${w.tokenId}::uuid AND rotated_at IS NULL AND EXISTS (SELECT 1 FROM live)
      RETURNING session_id
    ), touched AS (
      UPDATE sessions SET
        last_seen_at = ${w.now}::timestamptz,
        last_ip = ${truncate(patch.lastIp, 64)}::varchar,
        idle_expires_at = ${patch.idleExpiresAt}::timestamptz,
        access_expires_at = ${patch.accessExpiresAt}::timestamptz,
        user_agent = COALESCE(${ua}::varchar, user_agent),
        ua_browser = CASE WHEN ${device !== null}::boolean THEN ${truncate(device?.browser ?? null, 64)}::varchar ELSE ua_browser END,
        ua_os = CASE WHEN ${device !== null}::boolean THEN ${truncate(device?.os ?? null, 64)}::varchar ELSE ua_os END,
        ua_device = CASE WHEN ${device !== null}::boolean THEN ${truncate(device?.type ?? null, 32)}::varchar ELSE ua_device END
      WHERE id = (SELECT session_id FROM claim)
      RETURNING id, user_id
    ), successor AS (
      INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, ip, user_agent)
      SELECT ${next.id}::uuid, touched.id, ${next.hash}::bytea, ${w.tokenId}::uuid, ${w.now}::timestamptz,
             ${patch.idleExpiresAt}::timestamptz, ${truncate(next.ip, 64)}::varchar, ${truncate(next.userAgent, 512)}::varchar
      FROM touched
      RETURNING id
    ), audited AS (
      INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
      SELECT ${w.now}::timestamptz, ${audit.type}::varchar, ${audit.actor.slice(0, 128)}::varchar, touched.user_id, touched.id,
             ${truncate(audit.ip ?? null, 64)}::varchar, ${truncate(audit.userAgent ?? null, 512)}::varchar,
             ${JSON.stringify(audit.detail ?? {})}::jsonb
      FROM touched
      RETURNING id
    )
    SELECT (SELECT count(*) FROM successor)::int AS rotated,
           (SELECT count(*) FROM audited)::int AS audited,
           (SELECT not_before FROM users WHERE id = ${w.userId}::uuid) AS not_before`);
  const r = rows[0];
  if (!r || r.rotated !== 1) return { rotated: false };
  // Both inserts read the same one-row `touched`: one without the other cannot happen.
  if (r.audited !== 1) throw new Error("rotation wrote a successor without its audit row");
  return { rotated: true, userNotBefore: r.not_before };
}
