// Applications (table applications) and the transactions that change them
// together with their sessions, on the session aggregate's SQL driver: the
// session writes of a policy change or a deletion are the aggregate's own
// (sessionTx), on the same connection and transaction.
import type { ApplicationStore, ApplicationTx } from "../../domain/application-ports.js";
import type { Application } from "../../domain/applications.js";
import type { AuditEventInput } from "../../domain/types.js";
import { sql, type SqlDriver, type SqlQueryable } from "../sql-driver.js";
import { sessionTx } from "../sessions/session-repository.js";
import { tappedAudits } from "../../observability/event-tap.js";
import { LOCK_APPLICATION_EXCLUSIVE } from "./application-lock.js";
import { applyPolicy, revokeApplicationSessions, userBoundaries } from "./policy-change-sql.js";
import type { ApplicationReader } from "../prisma/application-store.js";

interface ApplicationRow {
  id: string;
  name: string;
  transports: string[] | null;
  origins: string[] | null;
  access_token_ttl_ms: string | number | null;
  refresh_token_ttl_ms: string | number | null;
  session_max_lifetime_ms: string | number | null;
  max_sessions_per_user: number | null;
  on_limit: string | null;
  refresh_reuse_grace_ms: string | number | null;
  device_change_policy: string | null;
  created_at: Date;
  updated_at: Date;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

const toApplication = (r: ApplicationRow): Application => ({
  id: r.id,
  name: r.name,
  transports: (r.transports ?? []).filter((t): t is "bearer" | "cookie" => t === "bearer" || t === "cookie"),
  origins: r.origins ?? [],
  policy: {
    accessTokenTtlMs: num(r.access_token_ttl_ms),
    refreshTokenTtlMs: num(r.refresh_token_ttl_ms),
    sessionMaxLifetimeMs: num(r.session_max_lifetime_ms),
    maxSessionsPerUser: r.max_sessions_per_user,
    onLimit: r.on_limit as Application["policy"]["onLimit"],
    refreshReuseGraceMs: num(r.refresh_reuse_grace_ms),
    deviceChangePolicy: r.device_change_policy as Application["policy"]["deviceChangePolicy"],
  },
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** A signal to roll back a transaction that did its work (a dry run), carrying its result out. */
class RollBack<T> {
  constructor(readonly value: T) {}
}

function applicationTx(q: SqlQueryable): ApplicationTx {
  return {
    ...sessionTx(q),
    async lockApplication(id) {
      const rows = await q.query<ApplicationRow>(sql`SELECT * FROM applications WHERE id = ${id}::varchar FOR UPDATE`);
      return rows[0] ? toApplication(rows[0]) : null;
    },
    async insertApplication(a) {
      const p = a.policy;
      const rows = await q.query<{ id: string }>(sql`
        INSERT INTO applications (id, name, transports, origins, access_token_ttl_ms, refresh_token_ttl_ms, session_max_lifetime_ms,
                                  max_sessions_per_user, on_limit, refresh_reuse_grace_ms, device_change_policy, created_at, updated_at)
        VALUES (${a.id}::varchar, ${a.name}::varchar, ${a.transports}::varchar[], ${a.origins}::varchar[], ${p.accessTokenTtlMs ?? null}::bigint,
                ${p.refreshTokenTtlMs ?? null}::bigint, ${p.sessionMaxLifetimeMs ?? null}::bigint, ${p.maxSessionsPerUser ?? null}::int,
                ${p.onLimit ?? null}::varchar, ${p.refreshReuseGraceMs ?? null}::bigint, ${p.deviceChangePolicy ?? null}::varchar,
                ${a.createdAt}::timestamptz, ${a.updatedAt}::timestamptz)
        ON CONFLICT (id) DO NOTHING
        RETURNING id`);
      return rows.length === 1;
    },
    async updateApplication(a) {
      const p = a.policy;
      await q.query(sql`
        UPDATE applications SET name = ${a.name}::varchar, transports = ${a.transports}::varchar[], origins = ${a.origins}::varchar[],
          access_token_ttl_ms = ${p.accessTokenTtlMs ?? null}::bigint, refresh_token_ttl_ms = ${p.refreshTokenTtlMs ?? null}::bigint,
          session_max_lifetime_ms = ${p.sessionMaxLifetimeMs ?? null}::bigint, max_sessions_per_user = ${p.maxSessionsPerUser ?? null}::int,
          on_limit = ${p.onLimit ?? null}::varchar, refresh_reuse_grace_ms = ${p.refreshReuseGraceMs ?? null}::bigint,
          device_change_policy = ${p.deviceChangePolicy ?? null}::varchar, updated_at = ${a.updatedAt}::timestamptz
        WHERE id = ${a.id}::varchar`);
    },
    async deleteApplication(id) {
      await q.query(sql`DELETE FROM applications WHERE id = ${id}::varchar`);
    },
    applyPolicy: (plan) => applyPolicy(q, plan),
    revokeApplicationSessions: (id, at, reason, by) => revokeApplicationSessions(q, id, at, reason, by),
  };
}

/**
 * The application store on the session aggregate's driver. `observe` sees
 * every audit event of a committed transaction (the metrics), never those
 * of a rolled-back one.
 */
export function createApplicationRepository(
  driver: SqlDriver,
  reader: ApplicationReader,
  observe: (e: AuditEventInput) => void = () => {},
): ApplicationStore {
  return {
    list: () => reader.list(),
    get: (id) => reader.get(id),
    userBoundaries: (id, perBatch) => userBoundaries(driver, id, perBatch),
    async withApplication(id, commit, work) {
      const seen: AuditEventInput[] = [];
      try {
        const value = await driver.transaction(async (q) => {
          await q.query({ text: LOCK_APPLICATION_EXCLUSIVE, values: [id], name: "sa_application_lock_exclusive" });
          const result = await work(tappedAudits(applicationTx(q), seen));
          if (!commit) throw new RollBack(result);
          return result;
        });
        for (const e of seen) observe(e);
        return value;
      } catch (err) {
        if (err instanceof RollBack) return err.value as never;
        throw err;
      }
    },
  };
}
