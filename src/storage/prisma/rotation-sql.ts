// The refresh hot path in raw SQL: the ordinary rotation decided and written
// by one statement, on the native driver (sql-driver.ts), so the same
// statement runs on Postgres and embedded PGlite. Every parameter carries an
// explicit cast: none of the drivers sends parameter types.
import type { DirectRotationOutcome, DirectRotationWrite } from "../../domain/ports.js";
import { sql, type SqlQueryable } from "../sql-driver.js";
import { truncate } from "./rows.js";

interface RotatedRow {
  session_id: string;
  user_id: string;
  token_id: string;
  idle_expires_at: Date;
  access_expires_at: Date;
  not_before: Date | null;
  rotated: number;
  audited: number;
}

/**
 * An ordinary rotation as one autocommit statement, all or nothing:
 *
 * 1. `live` finds the presented token by its hash and locks its session, only
 *    if the token is unrotated and unexpired at `now` (decideRefresh's
 *    `rotate`) and the session is unrevoked and unexpired (sessionState's
 *    `live`), of the presented transport, and shows no device change:
 *    assessDeviceChange's rule, where a value unknown on either side is no
 *    evidence of a change. The comparisons use the request's values as
 *    given, as the locked path does. In READ COMMITTED a concurrent
 *    revocation or refresh holding the session row makes this wait and then
 *    re-check the session's committed row, so a revocation that commits
 *    first always wins. The session is locked before the token, the order
 *    the locked path takes its locks in, so the two paths cannot deadlock.
 * 2. `claim` sets rotated_at on the token only if it is still unset once the
 *    session is locked: the atomic claim (LESSONS.md). A concurrent winner
 *    makes it re-check the committed row and match nothing. The token is
 *    found by its primary key alone: matching on session_id would let the
 *    planner walk the session's whole rotation chain through its index.
 * 3. Only rows that came out of the claim feed the session update, the
 *    successor insert and the audit row, so a refresh that is not the
 *    ordinary rotation, a lost claim or a dead session writes nothing at all.
 *
 * The session's new expiries are the candidates capped by its absolute
 * expiry (slidingExpiries). Device flags and scores are left as they are:
 * this statement only rotates when the request showed no device change,
 * and must not overwrite a flag that a concurrent request set.
 */
export async function rotateDirect(db: SqlQueryable, w: DirectRotationWrite): Promise<DirectRotationOutcome | null> {
  const { device, successor: next } = w;
  const ip = truncate(w.ip, 64);
  // null keeps the stored user agent and device (a request without one), as the locked path does.
  const ua = truncate(w.userAgent, 512);
  const keepDevice = !w.userAgent;
  const rows = await db.query<RotatedRow>(sql`
    WITH live AS (
      SELECT t.id AS token_id, s.id AS session_id
      FROM refresh_tokens t
      JOIN sessions s ON s.id = t.session_id
      WHERE t.token_hash = ${w.tokenHash}::bytea AND t.rotated_at IS NULL AND t.expires_at > ${w.now}::timestamptz
        AND s.revoked_at IS NULL AND s.idle_expires_at > ${w.now}::timestamptz AND s.absolute_expires_at > ${w.now}::timestamptz
        AND s.transport = ${w.transport}::varchar
        AND (s.last_ip IS NULL OR ${w.ip}::varchar IS NULL OR s.last_ip = ${w.ip}::varchar)
        AND (s.ua_browser IS NULL OR ${device.browser}::varchar IS NULL OR s.ua_browser = ${device.browser}::varchar)
        AND (s.ua_os IS NULL OR ${device.os}::varchar IS NULL OR s.ua_os = ${device.os}::varchar)
        AND (s.ua_device IS NULL OR ${device.type}::varchar IS NULL OR s.ua_device = ${device.type}::varchar)
      FOR UPDATE OF s
    ), claim AS (
      UPDATE refresh_tokens SET rotated_at = ${w.now}::timestamptz, successor_sealed = ${w.successorSealed}::bytea
      WHERE id = (SELECT token_id FROM live) AND rotated_at IS NULL
      RETURNING id, session_id
    ), touched AS (
      UPDATE sessions SET
        last_seen_at = ${w.now}::timestamptz,
        last_ip = ${ip}::varchar,
        idle_expires_at = LEAST(${w.idleCandidate}::timestamptz, absolute_expires_at),
        access_expires_at = LEAST(${w.accessCandidate}::timestamptz, absolute_expires_at),
        user_agent = COALESCE(${ua}::varchar, user_agent),
        ua_browser = CASE WHEN ${keepDevice}::boolean THEN ua_browser ELSE ${truncate(device.browser, 64)}::varchar END,
        ua_os = CASE WHEN ${keepDevice}::boolean THEN ua_os ELSE ${truncate(device.os, 64)}::varchar END,
        ua_device = CASE WHEN ${keepDevice}::boolean THEN ua_device ELSE ${truncate(device.type, 32)}::varchar END
      WHERE id = (SELECT session_id FROM claim)
      RETURNING id, user_id, idle_expires_at, access_expires_at
    ), successor AS (
      INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, ip, user_agent)
      SELECT ${next.id}::uuid, touched.id, ${next.hash}::bytea, claim.id, ${w.now}::timestamptz, touched.idle_expires_at,
             ${ip}::varchar, ${ua}::varchar
      FROM touched, claim
      RETURNING id
    ), audited AS (
      INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
      SELECT ${w.now}::timestamptz, 'refresh', 'user:' || touched.user_id, touched.user_id, touched.id, ${ip}::varchar, ${ua}::varchar,
             jsonb_build_object('token_id', claim.id)
      FROM touched, claim
      RETURNING id
    )
    SELECT touched.id AS session_id, touched.user_id, claim.id AS token_id, touched.idle_expires_at, touched.access_expires_at,
           (SELECT not_before FROM users WHERE id = touched.user_id) AS not_before,
           (SELECT count(*) FROM successor)::int AS rotated,
           (SELECT count(*) FROM audited)::int AS audited
    FROM touched, claim`);
  const r = rows[0];
  if (!r) return null;
  // The successor and the audit row read the same one-row `touched`: one without the other cannot happen.
  if (r.rotated !== 1 || r.audited !== 1) throw new Error("a rotation wrote its session update without its successor or audit row");
  return {
    session: { id: r.session_id, userId: r.user_id, transport: w.transport, idleExpiresAt: r.idle_expires_at, accessExpiresAt: r.access_expires_at },
    userNotBefore: r.not_before,
    audit: {
      type: "refresh",
      actor: `user:${r.user_id}`,
      userId: r.user_id,
      sessionId: r.session_id,
      ip: w.ip,
      userAgent: w.userAgent,
      detail: { token_id: r.token_id },
    },
  };
}
