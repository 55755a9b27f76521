// The fast path of a refresh: the ordinary rotation decided and written by
// one statement. Its preconditions are listed once below, each with the SQL
// that states it and the TypeScript that states it on records; a property
// test (test/integration/fast-path-agreement.test.ts) checks on random rows
// that the statement rotates exactly when every `holds` is true, and that
// this is exactly when the locked path would rotate with no device change.
import { createHash } from "node:crypto";
import type { Claims } from "../../domain/claims.js";
import type { FastRotationOutcome, FastRotationWrite } from "../../domain/ports.js";
import type { DeviceInfo, RefreshTokenRecord, SessionRecord, Transport } from "../../domain/types.js";
import { COLUMN, truncate } from "../columns.js";
import type { SqlQueryable, Statement } from "../sql-driver.js";
import { type AuthenticationRow, toAuthentication } from "./session-rows.js";

/** What a precondition is judged on: the stored rows and the request. */
export interface FastPathCase {
  session: Pick<SessionRecord, "revokedAt" | "idleExpiresAt" | "absoluteExpiresAt" | "transport" | "lastIp" | "device">;
  token: Pick<RefreshTokenRecord, "rotatedAt" | "expiresAt">;
  request: { now: Date; transport: Transport; ip: string | null; device: DeviceInfo };
}

/** Unknown on either side is no evidence of a change (assessDeviceChange). */
const same = (stored: string | null, presented: string | null) => stored === null || presented === null || stored === presented;

/**
 * The fast-path preconditions. `sql` is over `t` (refresh_tokens) and `s`
 * (sessions), with `:name` parameters of the write.
 */
export const FAST_PATH_PRECONDITIONS = [
  { name: "token unrotated", sql: "t.rotated_at IS NULL", holds: (c: FastPathCase) => c.token.rotatedAt === null },
  { name: "token unexpired", sql: "t.expires_at > :now", holds: (c: FastPathCase) => c.request.now < c.token.expiresAt },
  { name: "session unrevoked", sql: "s.revoked_at IS NULL", holds: (c: FastPathCase) => c.session.revokedAt === null },
  {
    name: "session within idle expiry",
    sql: "s.idle_expires_at > :now",
    holds: (c: FastPathCase) => c.request.now < c.session.idleExpiresAt,
  },
  {
    name: "session within absolute expiry",
    sql: "s.absolute_expires_at > :now",
    holds: (c: FastPathCase) => c.request.now < c.session.absoluteExpiresAt,
  },
  { name: "transport matches", sql: "s.transport = :transport", holds: (c: FastPathCase) => c.session.transport === c.request.transport },
  {
    name: "IP unchanged",
    sql: "(s.last_ip IS NULL OR :ip IS NULL OR s.last_ip = :ip)",
    holds: (c: FastPathCase) => same(c.session.lastIp, c.request.ip),
  },
  {
    name: "browser unchanged",
    sql: "(s.ua_browser IS NULL OR :browser IS NULL OR s.ua_browser = :browser)",
    holds: (c: FastPathCase) => same(c.session.device.browser, c.request.device.browser),
  },
  {
    name: "OS unchanged",
    sql: "(s.ua_os IS NULL OR :os IS NULL OR s.ua_os = :os)",
    holds: (c: FastPathCase) => same(c.session.device.os, c.request.device.os),
  },
  {
    name: "device type unchanged",
    sql: "(s.ua_device IS NULL OR :device_type IS NULL OR s.ua_device = :device_type)",
    holds: (c: FastPathCase) => same(c.session.device.type, c.request.device.type),
  },
] as const;

/** Every precondition, in TypeScript: the statement's WHERE clause on records. */
export const fastPathApplies = (c: FastPathCase): boolean => FAST_PATH_PRECONDITIONS.every((p) => p.holds(c));

/**
 * The statement, all or nothing:
 *
 * 1. `live` finds the presented token by its hash and locks its session,
 *    only if every precondition holds. In READ COMMITTED a concurrent
 *    revocation or refresh holding the session row makes it wait and then
 *    re-check the session's committed row, so a revocation that commits
 *    first always wins. The session is locked before the token, the order
 *    of the locked path, so the two cannot deadlock. The token is found by
 *    its hash and its session by id from the token's row (token_hash is
 *    unique, so they are one pair), with no join condition: as a join, a
 *    fresh database's generic plan walked every live session through an
 *    index with revoked_at, or the session's whole rotation chain.
 * 2. `claim` sets rotated_at on the token only if it is still unset once the
 *    session is locked: the atomic claim (docs/lessons.md). The token is
 *    found by its primary key alone: matching on session_id would let the
 *    planner walk the session's whole rotation chain through its index.
 * 3. Only rows that came out of the claim feed the session update, the
 *    successor insert and the audit row, so a refresh that is not the
 *    ordinary rotation, a lost claim or a dead session writes nothing.
 *
 * The new expiries slide by the session's own lifetimes, else the
 * service-wide ones (sessionLifetimes), capped by the absolute expiry, and
 * the access expiry by the new idle expiry too (slidingExpiries); the
 * property test checks both against those functions.
 * last_seen_at and access_expires_at never move back, whatever the
 * instances' clocks: they bound every token the session has issued
 * (revocation-service.ts, nextNotBefore). The user's not_before is read in
 * the same statement, so it is the one the session's lock was taken under.
 * The session's claims, authentication and tokens_not_before come from the
 * row as locked: a claims change that held the lock first is what they show
 * (SPEC §11), and the token is lifted past it.
 * Device flags and scores are left as they are: this statement only rotates
 * when the request showed no device change.
 */
const TEMPLATE = `
    WITH live AS (
      SELECT t.id AS token_id, s.id AS session_id,
             :now + COALESCE(s.idle_ttl_ms, :default_idle_ms) * INTERVAL '1 millisecond' AS idle_candidate,
             :now + COALESCE(s.access_ttl_ms, :default_access_ms) * INTERVAL '1 millisecond' AS access_candidate
      FROM refresh_tokens t, sessions s
      WHERE t.token_hash = :hash
        AND s.id = (SELECT session_id FROM refresh_tokens WHERE token_hash = :hash)
        AND ${FAST_PATH_PRECONDITIONS.map((p) => p.sql).join("\n        AND ")}
      FOR UPDATE OF s
    ), claim AS (
      UPDATE refresh_tokens SET rotated_at = :now, successor_sealed = :sealed
      WHERE id = (SELECT token_id FROM live) AND rotated_at IS NULL
      RETURNING id, session_id
    ), touched AS (
      UPDATE sessions SET
        last_seen_at = GREATEST(last_seen_at, :now),
        last_ip = :stored_ip,
        idle_expires_at = LEAST(live.idle_candidate, absolute_expires_at),
        access_expires_at = GREATEST(access_expires_at, LEAST(live.access_candidate, live.idle_candidate, absolute_expires_at)),
        user_agent = COALESCE(:stored_ua, user_agent),
        ua_browser = CASE WHEN :keep_device THEN ua_browser ELSE :stored_browser END,
        ua_os = CASE WHEN :keep_device THEN ua_os ELSE :stored_os END,
        ua_device = CASE WHEN :keep_device THEN ua_device ELSE :stored_device_type END
      FROM live
      WHERE sessions.id = (SELECT session_id FROM claim) AND sessions.id = live.session_id
      RETURNING sessions.id, sessions.user_id, sessions.client_id, sessions.idle_expires_at,
                LEAST(live.access_candidate, live.idle_candidate, sessions.absolute_expires_at) AS access_expires_at,
                sessions.created_at, sessions.auth_time, sessions.amr, sessions.acr, sessions.claims, sessions.tokens_not_before
    ), successor AS (
      INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, ip, user_agent)
      SELECT :successor_id, touched.id, :successor_hash, claim.id, :now, touched.idle_expires_at, :stored_ip, :stored_ua
      FROM touched, claim
      RETURNING id
    ), audited AS (
      INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
      SELECT :now, 'refresh', 'user:' || touched.user_id, touched.user_id, touched.id, :stored_ip, :stored_ua,
             jsonb_build_object('token_id', claim.id, 'client_id', touched.client_id)
      FROM touched, claim
      RETURNING id
    )
    SELECT touched.id AS session_id, touched.user_id, touched.client_id, claim.id AS token_id, touched.idle_expires_at, touched.access_expires_at,
           touched.created_at, touched.auth_time, touched.amr, touched.acr, touched.claims, touched.tokens_not_before,
           (SELECT not_before FROM users WHERE id = touched.user_id) AS not_before,
           (SELECT count(*) FROM successor)::int AS rotated,
           (SELECT count(*) FROM audited)::int AS audited
    FROM touched, claim`;

/** Each parameter's cast: neither driver sends parameter types. */
const CASTS = {
  hash: "bytea",
  now: "timestamptz",
  transport: "varchar",
  ip: "varchar",
  browser: "varchar",
  os: "varchar",
  device_type: "varchar",
  sealed: "bytea",
  stored_ip: "varchar",
  stored_ua: "varchar",
  stored_browser: "varchar",
  stored_os: "varchar",
  stored_device_type: "varchar",
  keep_device: "boolean",
  default_idle_ms: "bigint",
  default_access_ms: "bigint",
  successor_id: "uuid",
  successor_hash: "bytea",
} as const;

type Param = keyof typeof CASTS;

/** `:name` placeholders to positional ones, once at load. */
function compile(template: string): { text: string; order: Param[]; name: string } {
  const order: Param[] = [];
  const text = template.replace(/(?<!:):([a-z_]+)\b/g, (_, name: string) => {
    if (!(name in CASTS)) throw new Error(`fast-path SQL names an unknown parameter :${name}`);
    let i = order.indexOf(name as Param);
    if (i < 0) i = order.push(name as Param) - 1;
    return `$${i + 1}::${CASTS[name as Param]}`;
  });
  return { text, order, name: `sa_${createHash("sha256").update(text).digest("hex").slice(0, 24)}` };
}

const STATEMENT = compile(TEMPLATE);

export function fastRotationStatement(w: FastRotationWrite): Statement {
  // null keeps the stored user agent and device (a request without one), as the locked path does.
  const values: Record<Param, unknown> = {
    hash: w.tokenHash,
    now: w.now,
    transport: w.transport,
    ip: w.ip,
    browser: w.device.browser,
    os: w.device.os,
    device_type: w.device.type,
    sealed: w.successorSealed,
    stored_ip: truncate(w.ip, COLUMN.ip),
    stored_ua: truncate(w.userAgent, COLUMN.userAgent),
    stored_browser: truncate(w.device.browser, COLUMN.uaBrowser),
    stored_os: truncate(w.device.os, COLUMN.uaOs),
    stored_device_type: truncate(w.device.type, COLUMN.uaDevice),
    keep_device: !w.userAgent,
    default_idle_ms: w.defaults.refreshTokenTtlMs,
    default_access_ms: w.defaults.accessTokenTtlMs,
    successor_id: w.successor.id,
    successor_hash: w.successor.hash,
  };
  return { text: STATEMENT.text, name: STATEMENT.name, values: STATEMENT.order.map((p) => values[p]) };
}

interface RotatedRow extends AuthenticationRow {
  claims: Claims | null;
  tokens_not_before: Date | null;
  session_id: string;
  user_id: string;
  client_id: string;
  token_id: string;
  idle_expires_at: Date;
  access_expires_at: Date;
  not_before: Date | null;
  rotated: number;
  audited: number;
}

/** Runs the fast-path statement: the rotation it committed, or null when it wrote nothing. */
export async function rotateFast(q: SqlQueryable, w: FastRotationWrite): Promise<FastRotationOutcome | null> {
  const r = (await q.query<RotatedRow>(fastRotationStatement(w)))[0];
  if (!r) return null;
  // The successor and the audit row read the same one-row `touched`: one without the other cannot happen.
  if (r.rotated !== 1 || r.audited !== 1) throw new Error("a rotation wrote its session update without its successor or audit row");
  return {
    session: {
      id: r.session_id,
      userId: r.user_id,
      clientId: r.client_id,
      transport: w.transport,
      idleExpiresAt: r.idle_expires_at,
      accessExpiresAt: r.access_expires_at,
      authentication: toAuthentication(r),
      claims: r.claims,
      tokensNotBefore: r.tokens_not_before,
    },
    userNotBefore: r.not_before,
    audit: {
      type: "refresh",
      actor: `user:${r.user_id}`,
      userId: r.user_id,
      sessionId: r.session_id,
      ip: w.ip,
      userAgent: w.userAgent,
      detail: { token_id: r.token_id, client_id: r.client_id },
    },
  };
}
