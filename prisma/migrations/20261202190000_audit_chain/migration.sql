-- Hash-chained audit log (SPEC §14). Writers keep inserting plain rows, with
-- seq, prev_hash and hash NULL: the hot statements (rotation, issuance) take
-- no chain lock. The chainer (src/audit/audit-chain.ts) links committed rows
-- in order under one advisory lock, in batches, so the chain has one writer
-- and cannot fork; the unique seq refuses a fork even if that lock failed.
ALTER TABLE "audit_events" ADD COLUMN "seq" BIGINT;
ALTER TABLE "audit_events" ADD COLUMN "prev_hash" VARCHAR(64);
ALTER TABLE "audit_events" ADD COLUMN "hash" VARCHAR(64);

-- CreateIndex
CREATE UNIQUE INDEX "audit_events_seq_key" ON "audit_events"("seq");

-- The chainer's queue: rows not yet linked, oldest id first.
CREATE INDEX "audit_events_unchained_idx" ON "audit_events"("id") WHERE "seq" IS NULL;

-- What retention cleanup deleted last: the chain that remains starts at
-- seq + 1 with prev_hash = hash. The service only ever writes id 1.
CREATE TABLE "audit_anchors" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "seq" BIGINT NOT NULL,
    "hash" VARCHAR(64) NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "audit_anchors_pkey" PRIMARY KEY ("id")
);
