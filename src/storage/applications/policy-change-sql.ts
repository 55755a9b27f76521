// A policy change applied at once to the live sessions of an application
// (SPEC §10), set-based: two statements per batch of users (the domain cuts
// a change into batches, application-service.ts), whatever their number.
//
// Why no concurrent refresh resurrects a session or outlives the change:
// the change first locks every unrevoked session of the application (one
// SELECT … FOR UPDATE, in the order of sessions_client_live_idx, which is
// also the order evictions and user-wide revocations walk one user's
// sessions, so they cannot deadlock with it). A refresh that locked a row
// first commits before that lock is granted; in READ COMMITTED the second
// statement takes its snapshot after every lock is held, so it reads that
// refresh's last_seen_at and access expiry, and nothing can change them
// before commit. A refresh that comes after waits on the row, then
// re-reads it (EvalPlanQual) and finds it revoked, or finds the new
// expiries and lifetimes (idle_ttl_ms, access_ttl_ms), which it slides by.
// Issuance cannot add a session meanwhile: it takes the application's
// lock shared, and the change holds it exclusively (application-lock.ts).
import type { PolicyChangePlan, PolicyEffect, UserRange } from "../../domain/application-ports.js";
import type { RevokedSession } from "../../domain/ports.js";
import { COLUMN } from "../columns.js";
import { sql, type SqlQueryable } from "../sql-driver.js";

// Unbounded ends as the extreme UUIDs, not `$1 IS NULL OR …`: a generic plan
// keeps index range conditions only for plain comparisons. No user id is the
// all-zero UUID (a v4 UUID has its version nibble set).
const lowest = (r: UserRange) => r.after ?? "00000000-0000-0000-0000-000000000000";
const highest = (r: UserRange) => r.upTo ?? "ffffffff-ffff-ffff-ffff-ffffffffffff";

/** Locks every unrevoked session of the application's users in the range; returns how many. */
async function lockSessions(q: SqlQueryable, applicationId: string, users: UserRange): Promise<number> {
  const rows = await q.query<{ n: number }>(sql`
    SELECT count(*)::int AS n FROM (
      SELECT 1 FROM sessions
      WHERE client_id = ${applicationId}::varchar AND revoked_at IS NULL
        AND user_id > ${lowest(users)}::uuid AND user_id <= ${highest(users)}::uuid
      ORDER BY user_id, created_at
      FOR UPDATE
    ) AS locked`);
  return rows[0]?.n ?? 0;
}

interface OutcomeRow {
  kind: "ended" | "cut" | "summary";
  id: string | null;
  user_id: string | null;
  last_seen_at: Date | null;
  access_expires_at: Date | null;
  shortened: number | null;
  over_limit_users: number | null;
  sample: string[] | null;
}

/**
 * `plan` judges every live session at `now` under the new policy:
 * - its new absolute expiry is created + the new maximum lifetime, its new
 *   idle expiry last seen + the new idle lifetime, never past the absolute;
 * - it ends if either has passed or its transport is no longer allowed
 *   (`gone`), or if it is beyond the newest `max_sessions_per_user` of its
 *   user's sessions that survive that;
 * - a session kept whose newest access token expires after now + the new
 *   access lifetime, or after its new idle or absolute expiry, is cut: its
 *   earlier tokens must stop (the caller writes the list entries, whose
 *   not_before, revocationEntryBefore's, is the tokens_not_before written
 *   here, so the session's next token is lifted past its entry).
 * Ended sessions are marked revoked (reason `policy`), kept ones get the
 * new lifetimes and expiries, and their live refresh token the new idle
 * expiry (a token's own expiry bounds its redemption). `kept` and `tokens`
 * are not read: Postgres runs every data-modifying CTE to completion.
 */
const APPLY = (p: {
  app: string;
  now: Date;
  idle: number;
  abs: number;
  access: number;
  max: number;
  idleTtl: number | null;
  accessTtl: number | null;
  transports: readonly string[];
  by: string;
  after: string;
  upTo: string;
}) => sql`
    WITH live AS (
      SELECT s.id, s.user_id, s.transport, s.created_at, s.last_seen_at, s.idle_expires_at, s.absolute_expires_at, s.access_expires_at,
             s.created_at + ${p.abs}::bigint * interval '1 millisecond' AS new_abs,
             LEAST(s.last_seen_at + ${p.idle}::bigint * interval '1 millisecond',
                   s.created_at + ${p.abs}::bigint * interval '1 millisecond') AS new_idle
      FROM sessions s
      WHERE s.client_id = ${p.app}::varchar AND s.revoked_at IS NULL
        AND s.idle_expires_at > ${p.now}::timestamptz AND s.absolute_expires_at > ${p.now}::timestamptz
        AND s.user_id > ${p.after}::uuid AND s.user_id <= ${p.upTo}::uuid
    ), judged AS (
      SELECT l.*, l.new_idle <= ${p.now}::timestamptz OR NOT (l.transport = ANY(${p.transports}::varchar[])) AS gone FROM live l
    ), ranked AS (
      SELECT j.*, row_number() OVER (PARTITION BY j.user_id, j.gone ORDER BY j.created_at DESC, j.id DESC) AS newest
      FROM judged j
    ), plan AS (
      SELECT r.*,
             NOT r.gone AND r.newest > ${p.max}::int AS over_limit,
             r.gone OR r.newest > ${p.max}::int AS ends,
             r.access_expires_at > LEAST(${p.now}::timestamptz + ${p.access}::bigint * interval '1 millisecond', r.new_idle) AS cut
      FROM ranked r
    ), ended AS (
      UPDATE sessions s SET revoked_at = ${p.now}::timestamptz, revoked_reason = 'policy', revoked_by = ${p.by}::varchar
      FROM plan WHERE s.id = plan.id AND plan.ends
      RETURNING s.id, s.user_id, s.last_seen_at, s.access_expires_at
    ), kept AS (
      UPDATE sessions s SET idle_ttl_ms = ${p.idleTtl}::bigint, access_ttl_ms = ${p.accessTtl}::bigint,
                            idle_expires_at = plan.new_idle, absolute_expires_at = plan.new_abs,
                            tokens_not_before = CASE WHEN plan.cut
                              THEN GREATEST(s.tokens_not_before, ${p.now}::timestamptz, plan.last_seen_at + interval '1 millisecond')
                              ELSE s.tokens_not_before END
      FROM plan WHERE s.id = plan.id AND NOT plan.ends
      RETURNING s.id
    ), tokens AS (
      UPDATE refresh_tokens t SET expires_at = plan.new_idle
      FROM plan WHERE t.session_id = plan.id AND NOT plan.ends AND t.rotated_at IS NULL AND t.expires_at <> plan.new_idle
      RETURNING t.id
    )
    SELECT 'ended' AS kind, id, user_id, last_seen_at, access_expires_at,
           NULL::int AS shortened, NULL::int AS over_limit_users, NULL::text[] AS sample
    FROM ended
    UNION ALL
    SELECT 'cut', id, user_id, last_seen_at, access_expires_at, NULL, NULL, NULL FROM plan WHERE NOT ends AND cut
    UNION ALL
    SELECT 'summary', NULL, NULL, NULL, NULL,
           (SELECT count(*)::int FROM plan
            WHERE NOT ends AND (cut OR new_idle < idle_expires_at OR new_abs < absolute_expires_at)),
           (SELECT count(DISTINCT user_id)::int FROM plan WHERE over_limit),
           (SELECT array_agg(id::text) FROM (
              SELECT id FROM plan
              WHERE ends OR cut OR new_idle < idle_expires_at OR new_abs < absolute_expires_at
              ORDER BY ends DESC, created_at, id LIMIT 20) AS affected)
    `;

/** Runs a policy change's statements in the caller's transaction (which holds the application's exclusive lock). */
export async function applyPolicy(q: SqlQueryable, plan: PolicyChangePlan): Promise<PolicyEffect> {
  await lockSessions(q, plan.applicationId, plan.users);
  const rows = await q.query<OutcomeRow>(
    APPLY({
      app: plan.applicationId,
      now: plan.now,
      idle: plan.policy.refreshTokenTtlMs,
      abs: plan.policy.sessionMaxLifetimeMs,
      access: plan.policy.accessTokenTtlMs,
      max: plan.policy.maxSessionsPerUser,
      idleTtl: plan.idleTtlMs,
      accessTtl: plan.accessTtlMs,
      transports: plan.transports,
      by: plan.actor.slice(0, COLUMN.actor),
      after: lowest(plan.users),
      upTo: highest(plan.users),
    }),
  );
  const ended: RevokedSession[] = [];
  const accessCut: PolicyEffect["accessCut"] = [];
  let summary: OutcomeRow | undefined;
  for (const r of rows) {
    if (r.kind === "summary") summary = r;
    else if (r.kind === "ended")
      ended.push({
        id: r.id!,
        userId: r.user_id!,
        clientId: plan.applicationId,
        lastSeenAt: r.last_seen_at!,
        accessExpiresAt: r.access_expires_at!,
      });
    else accessCut.push({ id: r.id!, lastSeenAt: r.last_seen_at!, accessExpiresAt: r.access_expires_at! });
  }
  return {
    ended,
    accessCut,
    sessionsShortened: summary?.shortened ?? 0,
    usersOverLimit: summary?.over_limit_users ?? 0,
    sample: summary?.sample ?? [],
  };
}

/** Marks every unrevoked session of an application revoked (deletion); an UPDATE locks each row and returns its last committed write. */
export async function revokeApplicationSessions(
  q: SqlQueryable,
  applicationId: string,
  at: Date,
  reason: string,
  by: string,
): Promise<RevokedSession[]> {
  const rows = await q.query<{ id: string; user_id: string; last_seen_at: Date; access_expires_at: Date }>(sql`
    UPDATE sessions SET revoked_at = ${at}::timestamptz, revoked_reason = ${reason}::varchar, revoked_by = ${by.slice(0, COLUMN.actor)}::varchar
    WHERE client_id = ${applicationId}::varchar AND revoked_at IS NULL
    RETURNING id, user_id, last_seen_at, access_expires_at`);
  return rows.map((r) => ({
    id: r.id,
    userId: r.user_id,
    clientId: applicationId,
    lastSeenAt: r.last_seen_at,
    accessExpiresAt: r.access_expires_at,
  }));
}

/** Every `perBatch`-th unrevoked session's user id, in user order, without repeats (ApplicationStore.userBoundaries). */
export async function userBoundaries(q: SqlQueryable, applicationId: string, perBatch: number): Promise<string[]> {
  const rows = await q.query<{ user_id: string }>(sql`
    SELECT DISTINCT user_id::text FROM (
      SELECT user_id, row_number() OVER (ORDER BY user_id) AS n FROM sessions
      WHERE client_id = ${applicationId}::varchar AND revoked_at IS NULL
    ) AS ranked
    WHERE n % ${perBatch}::int = 0
    ORDER BY user_id`);
  return rows.map((r) => r.user_id);
}
