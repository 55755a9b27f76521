-- Applications (SPEC §10): every session belongs to one, and follows its
-- policy. A policy column left NULL takes the service-wide value (§9).
CREATE TABLE "applications" (
    "id" VARCHAR(64) NOT NULL,
    "name" VARCHAR(128) NOT NULL,
    "transports" VARCHAR(16)[],
    "origins" VARCHAR(512)[] DEFAULT '{}',
    "access_token_ttl_ms" BIGINT,
    "refresh_token_ttl_ms" BIGINT,
    "session_max_lifetime_ms" BIGINT,
    "max_sessions_per_user" INTEGER,
    "on_limit" VARCHAR(16),
    "refresh_reuse_grace_ms" BIGINT,
    "device_change_policy" VARCHAR(16),
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "applications_pkey" PRIMARY KEY ("id")
);

INSERT INTO "applications" ("id", "name", "transports") VALUES ('default', 'Default application', '{bearer,cookie}');

-- The session's application, and the two lifetimes its refreshes slide by,
-- copied from the application's policy at issue and rewritten by a policy
-- change (NULL: the service-wide value), so that the one-statement refresh
-- reads no other row.
ALTER TABLE "sessions" ADD COLUMN "client_id" VARCHAR(64) NOT NULL DEFAULT 'default';
ALTER TABLE "sessions" ADD COLUMN "access_ttl_ms" BIGINT;
ALTER TABLE "sessions" ADD COLUMN "idle_ttl_ms" BIGINT;

-- A policy change walks the live sessions of one application.
CREATE INDEX "sessions_client_live_idx" ON "sessions"("client_id", "user_id", "created_at") WHERE (revoked_at IS NULL);
