-- DropIndex
DROP INDEX "sessions_revoked_at_idx";

-- CreateIndex
CREATE INDEX "sessions_revoked_at_idx" ON "sessions"("revoked_at") WHERE revoked_at IS NOT NULL;
