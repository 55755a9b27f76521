// The applications table as the session aggregate's SQL reads it (issuance
// reads its application's policy under the application's lock).
import type { Application } from "../../domain/applications.js";
import { toApplication } from "../prisma/application-store.js";

/** Over `a` (applications). */
export const APPLICATION_COLUMNS = `a.id AS app_id, a.name AS app_name, a.transports AS app_transports, a.origins AS app_origins,
  a.access_token_ttl_ms, a.refresh_token_ttl_ms, a.session_max_lifetime_ms, a.max_sessions_per_user, a.on_limit,
  a.refresh_reuse_grace_ms, a.device_change_policy, a.created_at AS app_created_at, a.updated_at AS app_updated_at`;

/** BIGINT: a string from node-postgres, a bigint or number from PGlite. */
type Big = string | number | bigint | null;

export interface ApplicationRow {
  app_id: string | null;
  app_name: string;
  app_transports: string[] | null;
  app_origins: string[] | null;
  access_token_ttl_ms: Big;
  refresh_token_ttl_ms: Big;
  session_max_lifetime_ms: Big;
  max_sessions_per_user: number | null;
  on_limit: string | null;
  refresh_reuse_grace_ms: Big;
  device_change_policy: string | null;
  app_created_at: Date;
  app_updated_at: Date;
}

/** The application of a row, or null when the row's LEFT JOIN found none. */
export function toApplicationOfRow(r: ApplicationRow): Application | null {
  if (r.app_id === null) return null;
  return toApplication({
    id: r.app_id,
    name: r.app_name,
    transports: r.app_transports,
    origins: r.app_origins,
    accessTokenTtlMs: r.access_token_ttl_ms,
    refreshTokenTtlMs: r.refresh_token_ttl_ms,
    sessionMaxLifetimeMs: r.session_max_lifetime_ms,
    maxSessionsPerUser: r.max_sessions_per_user,
    onLimit: r.on_limit,
    refreshReuseGraceMs: r.refresh_reuse_grace_ms,
    deviceChangePolicy: r.device_change_policy,
    createdAt: r.app_created_at,
    updatedAt: r.app_updated_at,
  });
}
