// The unavailability rule (src/storage/unavailable.ts) against the errors the
// real layers raise, not hand-made lookalikes: node-postgres and its pool,
// Prisma over the pg adapter, and PGlite (through Prisma and directly). Lock
// and statement timeouts are load, a closed or exhausted pool is outage;
// both are 503 + Retry-After. A constraint violation or bad SQL is not.
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import pg from "pg";
import t from "tap";
import { PrismaClient } from "../../src/generated/prisma/client.js";
import { isDatabaseUnavailable } from "../../src/storage/unavailable.js";
import { freshPostgres } from "../fixtures/database.js";

const caught = async (work: () => Promise<unknown>): Promise<unknown> => {
  try {
    await work();
  } catch (err) {
    return err;
  }
  throw new Error("expected the work to fail");
};

t.test(
  "Postgres: lock and statement timeouts, an exhausted pool and a closed pool are unavailable; bad SQL and constraint violations are not",
  async (t) => {
    const { url } = await freshPostgres(t);
    const holder = new pg.Client({ connectionString: url });
    await holder.connect();
    t.teardown(() => holder.end());
    await holder.query("CREATE TABLE locked (id int PRIMARY KEY)");
    await holder.query("BEGIN");
    await holder.query("LOCK TABLE locked IN ACCESS EXCLUSIVE MODE");

    const pool = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 200 });
    t.teardown(() => pool.end().catch(() => {}));
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
    t.teardown(() => prisma.$disconnect());

    const lockTimeout = await caught(async () => {
      const c = await pool.connect();
      try {
        await c.query("SET lock_timeout = '50ms'");
        await c.query("SELECT * FROM locked");
      } finally {
        await c.query("RESET lock_timeout").catch(() => {});
        c.release();
      }
    });
    t.equal((lockTimeout as { code?: string }).code, "55P03", "pg raised lock_not_available");
    t.ok(isDatabaseUnavailable(lockTimeout), "pg: lock_timeout (55P03) is unavailable");

    const prismaLock = await caught(() =>
      prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe("SET LOCAL lock_timeout = '50ms'");
        await tx.$queryRawUnsafe("SELECT * FROM locked");
      }),
    );
    t.ok(isDatabaseUnavailable(prismaLock), `prisma: lock_timeout is unavailable (${(prismaLock as { code?: string }).code})`);

    const statementTimeout = await caught(() =>
      prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe("SET LOCAL statement_timeout = '50ms'");
        await tx.$queryRawUnsafe("SELECT pg_sleep(2)");
      }),
    );
    t.ok(isDatabaseUnavailable(statementTimeout), "prisma: statement_timeout (57014) is unavailable");

    // The pool's one connection busy: the next caller times out waiting for it.
    const busy = await pool.connect();
    const exhausted = await caught(() => pool.query("SELECT 1"));
    t.ok(isDatabaseUnavailable(exhausted), `pg: pool exhausted is unavailable (${(exhausted as Error).message})`);
    const prismaExhausted = await caught(() => prisma.$queryRawUnsafe("SELECT 1"));
    t.ok(isDatabaseUnavailable(prismaExhausted), "prisma: pool exhausted is unavailable");
    busy.release();

    const syntax = await caught(() => pool.query("SELEC 1"));
    t.notOk(isDatabaseUnavailable(syntax), "bad SQL is a bug, not an outage");
    await pool.query("CREATE TABLE uniq (id int PRIMARY KEY)");
    await pool.query("INSERT INTO uniq VALUES (1)");
    const duplicate = await caught(() => prisma.$executeRawUnsafe("INSERT INTO uniq VALUES (1)"));
    t.notOk(isDatabaseUnavailable(duplicate), "a unique violation through Prisma is not an outage");

    await pool.end();
    const closed = await caught(() => prisma.$queryRawUnsafe("SELECT 1"));
    t.ok(isDatabaseUnavailable(closed), "prisma on a pool that was shut down is unavailable");
    await holder.query("ROLLBACK");
  },
);

t.test("a Postgres backend terminated under a connection (admin shutdown, 57P01) is unavailable", async (t) => {
  const { url } = await freshPostgres(t);
  const victim = new pg.Client({ connectionString: url });
  victim.on("error", () => {});
  await victim.connect();
  const pid = (await victim.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;
  const killer = new pg.Client({ connectionString: url });
  await killer.connect();
  await killer.query("SELECT pg_terminate_backend($1)", [pid]);
  await killer.end();
  const err = await caught(() => victim.query("SELECT 1"));
  t.ok(isDatabaseUnavailable(err), `a terminated connection is unavailable (${(err as Error).message})`);
  await victim.end().catch(() => {});
});

t.test("PGlite: a closed database, directly and through Prisma, is unavailable; bad SQL is not", async (t) => {
  const db = await PGlite.create();
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db) });
  const syntax = await caught(() => prisma.$queryRawUnsafe("SELEC 1"));
  t.notOk(isDatabaseUnavailable(syntax), "bad SQL through Prisma on PGlite is not an outage");
  await db.close();
  const direct = await caught(() => db.query("SELECT 1"));
  t.ok(isDatabaseUnavailable(direct), `PGlite closed: ${(direct as Error).message}`);
  const viaPrisma = await caught(() => prisma.$queryRawUnsafe("SELECT 1"));
  t.ok(isDatabaseUnavailable(viaPrisma), `Prisma on a closed PGlite: ${(viaPrisma as Error).message.split("\n").pop()}`);
  await prisma.$disconnect().catch(() => {});
});

t.test("too many connections (53300), through pg and Prisma, is unavailable", async (t) => {
  const { url } = await freshPostgres(t);
  const role = `sa_limited_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`);
  t.teardown(async () => {
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => {});
    await admin.end();
  });
  const limited = new URL(url);
  limited.username = role;
  const first = new pg.Client({ connectionString: limited.toString() });
  await first.connect();
  const second = new pg.Client({ connectionString: limited.toString() });
  second.on("error", () => {});
  const refused = await caught(() => second.connect());
  t.equal((refused as { code?: string }).code, "53300", "Postgres refused the second connection");
  t.ok(isDatabaseUnavailable(refused), "pg: too many connections is unavailable");
  const pool = new pg.Pool({ connectionString: limited.toString(), max: 1 });
  pool.on("error", () => {});
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) });
  const viaPrisma = await caught(() => prisma.$queryRawUnsafe("SELECT 1"));
  t.ok(isDatabaseUnavailable(viaPrisma), `prisma: too many connections is unavailable (${(viaPrisma as { code?: string }).code})`);
  await prisma.$disconnect().catch(() => {});
  await pool.end().catch(() => {});
  await first.end();
});
