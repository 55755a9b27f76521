import t from "tap";
import { runCleanup } from "../../src/maintenance/cleanup.js";
import { runCli } from "../../src/cli/main.js";
import { FakeClock, DAY } from "../fixtures/clock.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";
import type { Database } from "../../src/storage/database.js";

const policy = { sessionRetentionMs: 7 * DAY, auditRetentionMs: 90 * DAY, batchSize: 5000 };

/** Fills the tables: `expired` rows past every retention, `live` rows that must survive. */
async function seed(db: Database, now: Date, expired: number, live: number) {
  const userId = crypto.randomUUID();
  await db.prisma.user.create({ data: { id: userId, username: "u", usernameKey: "u", passwordHash: "x" } });
  const old = new Date(now.getTime() - 30 * DAY);
  const future = new Date(now.getTime() + DAY);
  await db.prisma.$executeRaw`
    INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at, access_expires_at)
    SELECT gen_random_uuid(), ${userId}::uuid, 'bearer', ${old}, ${old}, ${old}, ${old}, ${old} FROM generate_series(1, ${expired})`;
  await db.prisma.$executeRaw`
    INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at, access_expires_at)
    SELECT gen_random_uuid(), ${userId}::uuid, 'bearer', ${now}, ${now}, ${future}, ${future}, ${future} FROM generate_series(1, ${live})`;
  await db.prisma.$executeRaw`
    INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
    SELECT gen_random_uuid(), s.id, sha256(s.id::text::bytea), s.created_at, s.idle_expires_at FROM sessions s`;
  await db.prisma.$executeRaw`
    INSERT INTO audit_events (at, type, actor) SELECT ${new Date(now.getTime() - 100 * DAY)}, 'login_success', 'system' FROM generate_series(1, ${expired})`;
  await db.prisma.$executeRaw`
    INSERT INTO audit_events (at, type, actor) SELECT ${now}, 'login_success', 'system' FROM generate_series(1, ${live})`;
  await db.prisma.$executeRaw`
    INSERT INTO revocations (kind, subject, expires_at, published_at) SELECT 'sid', gen_random_uuid()::text, ${old}, ${old} FROM generate_series(1, 100)`;
  await db.prisma.$executeRaw`
    INSERT INTO revocations (kind, subject, expires_at) SELECT 'sid', gen_random_uuid()::text, ${old} FROM generate_series(1, 3)`;
}

t.test("postgres: cleanup deletes 100k expired rows in batches and keeps the live ones", { timeout: 240_000 }, async (t) => {
  const { db } = await freshPostgres(t);
  const clock = new FakeClock();
  await seed(db, clock.now(), 100_000, 500);
  const started = performance.now();
  const report = await runCleanup(db, clock, policy);
  const seconds = (performance.now() - started) / 1000;
  t.comment(`cleanup of 100k sessions + 100k refresh tokens + 100k audit events took ${seconds.toFixed(1)} s`);
  t.same(report, { sessions: 100_000, refreshTokens: 100_000, revocations: 100, auditEvents: 100_000, webhookDeliveries: 0 });
  t.equal(await db.prisma.session.count(), 500, "live sessions remain");
  t.equal(await db.prisma.refreshToken.count(), 500, "their refresh tokens remain");
  t.equal(await db.prisma.auditEvent.count(), 500, "recent audit events remain");
  t.equal(await db.prisma.revocation.count(), 3, "unpublished entries wait for the outbox");
  t.same(
    await runCleanup(db, clock, policy),
    { sessions: 0, refreshTokens: 0, revocations: 0, auditEvents: 0, webhookDeliveries: 0 },
    "idempotent",
  );
});

t.test("postgres: only one instance cleans at a time", async (t) => {
  const { db } = await freshPostgres(t);
  const clock = new FakeClock();
  const held = await db.withAdvisoryLock("cleanup", async () => runCleanup(db, clock, policy));
  t.ok(held.acquired);
  t.equal(held.acquired && held.value, null, "a second run while the lock is held does nothing");
});

t.test("embedded: cleanup works on PGlite too, and the CLI runs it", async (t) => {
  const { dataDir, db } = await freshEmbedded(t);
  const clock = new FakeClock();
  await seed(db, clock.now(), 2_000, 10);
  await db.close();
  const out: string[] = [];
  const code = await runCli(
    ["cleanup"],
    { DATA_DIR: dataDir },
    { out: (l) => out.push(l), err: (l) => out.push(l), stdin: async () => "" },
  );
  t.equal(code, 0, out.join("\n"));
  t.same(JSON.parse(out.at(-1)!), { sessions: 2_000, refreshTokens: 2_000, revocations: 100, auditEvents: 2_000, webhookDeliveries: 0 });
});
