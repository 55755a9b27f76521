// Bulk data straight into Postgres with generate_series (never through the
// API): old sessions with one refresh token each, and revocation-list rows.
// Ids are md5-derived UUIDs, so sessions name their users without a join.
import { withClient } from "./postgres.js";

const CHUNK = 200_000;
const USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0 Safari/537.36";

/**
 * `sessions` sessions of `sessions / 10` users, created over the last 30 days:
 * some idle-expired, one in ten revoked; each with one refresh token. Then
 * VACUUM ANALYZE, as a database of that size would be.
 */
export async function seedSessions(url: string, sessions: number, tag: string, progress: (m: string) => void = () => {}): Promise<void> {
  const users = Math.max(1, Math.floor(sessions / 10));
  await withClient(url, async (c) => {
    await c.query(
      `INSERT INTO users (id, username, username_key, password_hash, created_at, updated_at)
       SELECT md5($1 || '-user-' || i)::uuid, $1 || '_u' || i, $1 || '_u' || i, 'not-a-password-hash', now() - interval '60 days', now() - interval '60 days'
       FROM generate_series(0, $2::int - 1) AS i`,
      [tag, users],
    );
    for (let from = 0; from < sessions; from += CHUNK) {
      const to = Math.min(sessions, from + CHUNK) - 1;
      progress(`seeding sessions ${from.toLocaleString("en-US")}–${to.toLocaleString("en-US")} of ${sessions.toLocaleString("en-US")}`);
      await c.query(
        `INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at, access_expires_at,
                               created_ip, last_ip, user_agent, ua_browser, ua_os, ua_device, revoked_at, revoked_reason, revoked_by)
         SELECT md5($1 || '-session-' || s)::uuid, md5($1 || '-user-' || (s % $4::int))::uuid,
                CASE WHEN s % 3 = 0 THEN 'cookie' ELSE 'bearer' END,
                t, t + interval '1 hour', t + interval '7 days', t + interval '30 days', t + interval '1 hour 10 minutes',
                '10.1.' || (s % 250) || '.' || (s % 199), '10.1.' || (s % 250) || '.' || (s % 199), $5, 'Chrome', 'Windows', 'desktop',
                CASE WHEN s % 10 = 0 THEN t + interval '2 hours' END,
                CASE WHEN s % 10 = 0 THEN 'logout' END,
                CASE WHEN s % 10 = 0 THEN 'user:' || md5($1 || '-user-' || (s % $4::int))::uuid END
         FROM (SELECT s, now() - (s % 2592000) * interval '1 second' AS t FROM generate_series($2::int, $3::int) AS s) AS g`,
        [tag, from, to, users, USER_AGENT],
      );
      await c.query(
        `INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at, ip, user_agent)
         SELECT md5($1 || '-rt-' || s)::uuid, md5($1 || '-session-' || s)::uuid, sha256(convert_to($1 || '-rt-' || s, 'UTF8')),
                t + interval '1 hour', t + interval '7 days 1 hour', '10.1.' || (s % 250) || '.' || (s % 199), $4
         FROM (SELECT s, now() - (s % 2592000) * interval '1 second' AS t FROM generate_series($2::int, $3::int) AS s) AS g`,
        [tag, from, to, USER_AGENT],
      );
    }
    progress("VACUUM ANALYZE");
    await c.query("VACUUM ANALYZE users, sessions, refresh_tokens");
  });
}

/** `count` live revocation-list rows ("sid" entries), already published (the outbox leaves them alone). */
export async function seedRevocations(url: string, count: number, tag: string, ttlMinutes: number): Promise<void> {
  await withClient(url, (c) =>
    c.query(
      `INSERT INTO revocations (kind, subject, expires_at, created_at, published_at)
       SELECT 'sid', md5($1 || '-revoked-' || i)::uuid::text, now() + make_interval(mins => $3::int), now(), now()
       FROM generate_series(1, $2::int) AS i`,
      [tag, count, ttlMinutes],
    ),
  );
}
