-- SPEC §11: a user is local (a username and a password) or external (found
-- by the service client that issues its sessions and the upstream's stable
-- id). An external user has no login key and no password, so /login can
-- never match it.
ALTER TABLE "users" ADD COLUMN "kind" VARCHAR(16) NOT NULL DEFAULT 'local';
ALTER TABLE "users" ADD COLUMN "issuer" VARCHAR(64);
ALTER TABLE "users" ADD COLUMN "external_subject" VARCHAR(255);
ALTER TABLE "users" ADD COLUMN "claims" JSONB NOT NULL DEFAULT '{}';
ALTER TABLE "users" ALTER COLUMN "username" TYPE VARCHAR(255);
ALTER TABLE "users" ALTER COLUMN "username_key" DROP NOT NULL;
ALTER TABLE "users" ALTER COLUMN "password_hash" DROP NOT NULL;
CREATE UNIQUE INDEX "users_issuer_external_subject_key" ON "users"("issuer", "external_subject");

-- How the user authenticated (kept across refreshes), and the claims the
-- session's tokens carry: the union of the user's and the session's own,
-- stored here so that a refresh reads no other row. tokens_not_before lifts
-- the iat of the session's next tokens past a claims change.
ALTER TABLE "sessions" ADD COLUMN "auth_time" TIMESTAMPTZ(3);
ALTER TABLE "sessions" ADD COLUMN "amr" VARCHAR(32)[] DEFAULT '{}';
ALTER TABLE "sessions" ADD COLUMN "acr" VARCHAR(255);
ALTER TABLE "sessions" ADD COLUMN "session_claims" JSONB;
ALTER TABLE "sessions" ADD COLUMN "claims" JSONB;
ALTER TABLE "sessions" ADD COLUMN "tokens_not_before" TIMESTAMPTZ(3);
