-- The partial index of live sessions per application drew generic plans on a
-- fresh database: being the smallest index of sessions, it was the refresh
-- statement's way to its session (a walk of every live session, by a
-- filter) instead of the primary key, and Postgres CPU per refresh grew
-- with the number of live sessions (test/integration/query-plans.test.ts).
-- A full index with revoked_at as a key serves the same look-ups: one
-- user's live sessions of one application, one application's by user.
DROP INDEX "sessions_client_live_idx";
CREATE INDEX "sessions_client_live_idx" ON "sessions"("client_id", "user_id", "revoked_at", "created_at");
