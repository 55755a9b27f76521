// migrate() against real databases: it must leave _prisma_migrations exactly
// as `prisma migrate deploy` would, apply each migration once however many
// processes race, and refuse histories it cannot trust.
import { spawnSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import { appendFile, cp, mkdtemp, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import t from "tap";
import type { Test } from "tap";
import type { Database } from "../../src/storage/database.js";
import { openDatabase } from "../../src/storage/database.js";
import { DEFAULT_MIGRATIONS_DIR, PRISMA_MIGRATE_LOCK, migrate, readMigrations } from "../../src/storage/migrate.js";
import type { Teardown } from "../fixtures/database.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";
import { lockWaiters } from "../fixtures/lock-waiters.js";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const expected = (await readMigrations()).map((m) => m.name);

interface Row {
  id: string;
  checksum: string;
  migration_name: string;
  logs: string | null;
  started_at: Date;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
}

const rowsOf = (db: Database) => db.prisma.$queryRawUnsafe<Row[]>("SELECT * FROM _prisma_migrations ORDER BY migration_name, started_at");

/** A private copy of prisma/migrations that a test may edit. */
async function migrationsCopy(t: Teardown): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), "sa-migrations-"));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  await cp(DEFAULT_MIGRATIONS_DIR, join(root, "migrations"), { recursive: true });
  return join(root, "migrations");
}

async function addMigration(dir: string, name: string, sql: string): Promise<void> {
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, "migration.sql"), sql);
}

t.test("the default folder is the repository's prisma/migrations", async (t) => {
  t.equal(DEFAULT_MIGRATIONS_DIR, resolve(repoRoot, "prisma/migrations"));
  t.ok(expected.length > 0);
});

/** The checks both kinds of database must pass, as subtests of `t`. */
function common(t: Test, open: (t: Teardown) => Promise<Database>) {
  t.test("applies every migration to an empty database, recorded as Prisma does", async (t) => {
    const db = await open(t);
    const logged: string[] = [];
    const { applied } = await migrate(db, { log: (m) => logged.push(m) });
    t.strictSame(applied, expected);
    t.ok(
      logged.some((m) => m.includes(expected[0]!)),
      "logs what it applies",
    );
    const rows = await rowsOf(db);
    t.strictSame(
      rows.map((r) => r.migration_name),
      expected,
    );
    for (const row of rows) {
      const file = await readFile(join(DEFAULT_MIGRATIONS_DIR, row.migration_name, "migration.sql"));
      t.equal(row.checksum, createHash("sha256").update(file).digest("hex"), "checksum is sha256 of the file");
      t.match(row.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "id is a v4 uuid");
      t.equal(row.applied_steps_count, 1);
      t.equal(row.logs, null);
      t.equal(row.rolled_back_at, null);
      t.ok(row.finished_at && row.finished_at >= row.started_at, "finished after it started");
    }
    // The table must be the one Prisma creates, column for column.
    const columns = await db.prisma.$queryRawUnsafe<unknown[]>(
      `SELECT column_name, format_type(atttypid, atttypmod) AS type, is_nullable, column_default
         FROM information_schema.columns JOIN pg_attribute
           ON attrelid = '_prisma_migrations'::regclass AND attname = column_name
        WHERE table_name = '_prisma_migrations' ORDER BY ordinal_position`,
    );
    t.strictSame(columns, [
      { column_name: "id", type: "character varying(36)", is_nullable: "NO", column_default: null },
      { column_name: "checksum", type: "character varying(64)", is_nullable: "NO", column_default: null },
      { column_name: "finished_at", type: "timestamp with time zone", is_nullable: "YES", column_default: null },
      { column_name: "migration_name", type: "character varying(255)", is_nullable: "NO", column_default: null },
      { column_name: "logs", type: "text", is_nullable: "YES", column_default: null },
      { column_name: "rolled_back_at", type: "timestamp with time zone", is_nullable: "YES", column_default: null },
      { column_name: "started_at", type: "timestamp with time zone", is_nullable: "NO", column_default: "now()" },
      { column_name: "applied_steps_count", type: "integer", is_nullable: "NO", column_default: "0" },
    ]);
    t.strictSame(await migrate(db), { applied: [] }, "a second run applies nothing");
    t.equal((await rowsOf(db)).length, expected.length);
  });

  t.test("a migration changed after it was applied is refused", async (t) => {
    const db = await open(t);
    const dir = await migrationsCopy(t);
    await migrate(db, { dir });
    const file = join(dir, expected[0]!, "migration.sql");
    const original = await readFile(file, "utf8");
    await writeFile(file, original.replaceAll("\n", "\r\n"));
    t.strictSame(await migrate(db, { dir }), { applied: [] }, "line endings alone do not count, as in Prisma");
    await writeFile(file, original);
    await appendFile(file, "\n-- edited\n");
    await addMigration(dir, "29990101000000_next", "CREATE TABLE next_one (x int);");
    await t.rejects(migrate(db, { dir }), new RegExp(`migration ${expected[0]} was modified`));
    const [next] = await db.prisma.$queryRawUnsafe<{ r: string | null }[]>("SELECT to_regclass('next_one')::text AS r");
    t.equal(next?.r, null, "nothing after the check was applied");
  });

  t.test("a failed migration rolls back, is recorded, and blocks until resolved", async (t) => {
    const db = await open(t);
    const dir = await migrationsCopy(t);
    const broken = "29990101000000_broken";
    await addMigration(dir, broken, "CREATE TABLE half_done (x int);\nSELECT 1/0;\n");
    await t.rejects(migrate(db, { dir }), new RegExp(`migration ${broken} failed: division by zero`));
    const [half] = await db.prisma.$queryRawUnsafe<{ r: string | null }[]>("SELECT to_regclass('half_done')::text AS r");
    t.equal(half?.r, null, "the migration's own transaction rolled back");
    const row = (await rowsOf(db)).find((r) => r.migration_name === broken);
    t.equal(row?.finished_at, null);
    t.match(row?.logs, /division by zero/);
    t.equal(row?.applied_steps_count, 0);
    await writeFile(join(dir, broken, "migration.sql"), "CREATE TABLE half_done (x int);\n");
    await t.rejects(migrate(db, { dir }), new RegExp(`migration ${broken} is recorded as started but not finished`));
    // What `prisma migrate resolve --rolled-back` does:
    await db.prisma.$executeRawUnsafe("UPDATE _prisma_migrations SET rolled_back_at = now() WHERE migration_name = $1", broken);
    t.strictSame(await migrate(db, { dir }), { applied: [broken] });
  });

  t.test("a schema with tables but no migration history is refused", async (t) => {
    const db = await open(t);
    await db.execScript("CREATE TABLE stray (x int); CREATE TABLE other (y int);");
    await t.rejects(migrate(db), /schema is not empty \(.*stray.*\)/);
  });
}

t.test("postgres", async (t) => {
  common(t, async (t) => (await freshPostgres(t, { migrated: false })).db);

  t.test("concurrent runs from two instances apply each migration once", async (t) => {
    const { url, db } = await freshPostgres(t, { migrated: false });
    const other = await openDatabase({ url, dataDir: "", poolSize: 2 });
    t.teardown(() => other.close());
    const results = await Promise.all([migrate(db), migrate(other), migrate(db), migrate(other)]);
    t.strictSame(results.flatMap((r) => r.applied).sort(), expected);
    t.strictSame(
      (await rowsOf(db)).map((r) => r.migration_name),
      expected,
    );
  });

  t.test("advisory locks exclude other sessions, and share Prisma Migrate's key", async (t) => {
    const { url, db } = await freshPostgres(t);
    const other = await openDatabase({ url, dataDir: "", poolSize: 1 });
    t.teardown(() => other.close());
    const events: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    const first = db.withAdvisoryLock("job", async () => {
      entered();
      await held;
      events.push("first done");
      return 1;
    });
    await inside;
    t.strictSame(await other.withAdvisoryLock("job", async () => 2, { wait: false }), { acquired: false });
    t.strictSame(await db.withAdvisoryLock("job", async () => 3, { wait: false }), { acquired: false }, "same process too");
    t.strictSame(await other.withAdvisoryLock("another job", async () => 4, { wait: false }), { acquired: true, value: 4 });
    const second = other.withAdvisoryLock("job", async () => {
      events.push("second ran");
      return 5;
    });
    const watcher = new pg.Client({ connectionString: url });
    await watcher.connect();
    t.teardown(() => watcher.end());
    await lockWaiters(watcher);
    t.strictSame(events, [], "a waiter does not run while the lock is held");
    release();
    t.strictSame(await first, { acquired: true, value: 1 });
    t.strictSame(await second, { acquired: true, value: 5 });
    t.strictSame(events, ["first done", "second ran"]);

    // A session of `prisma migrate` itself cannot get in while migrate() holds it.
    const probe = new pg.Client({ connectionString: url });
    await probe.connect();
    t.teardown(() => probe.end());
    const tryPrismaLock = async () => (await probe.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(72707369) AS ok")).rows[0]?.ok;
    await db.withAdvisoryLock(PRISMA_MIGRATE_LOCK, async () => t.equal(await tryPrismaLock(), false));
    t.equal(await tryPrismaLock(), true, "and it is released afterwards");
  });
});

t.test("ping fails on an unreachable server", async (t) => {
  const db = await openDatabase({ url: "postgres://postgres@127.0.0.1:1/nowhere", dataDir: "" });
  t.teardown(() => db.close());
  await t.rejects(db.ping());
});

t.test("embedded", async (t) => {
  common(t, async (t) => (await freshEmbedded(t, { migrated: false })).db);

  t.test("creates its folder private, migrates, and keeps data across a reopen", async (t) => {
    const root = await mkdtemp(join(tmpdir(), "sa-embedded-new-"));
    t.teardown(() => rm(root, { recursive: true, force: true }));
    const dataDir = join(root, "nested", "data");
    let db = await openDatabase({ dataDir });
    t.equal((await stat(dataDir)).mode & 0o777, 0o700);
    await t.rejects(openDatabase({ dataDir }), /already open/, "a folder opens once");
    const results = await Promise.all([migrate(db), migrate(db)]);
    t.strictSame(
      results.flatMap((r) => r.applied),
      expected,
      "concurrent runs apply once",
    );
    await db.prisma.user.create({ data: { id: randomUUID(), username: "Ada", usernameKey: "ada", passwordHash: "x" } });
    await db.close();
    // The folder is claimed per process; a claim outlives only a live process.
    const claim = join(dataDir, "session-authority.lock");
    await writeFile(claim, `${process.ppid}\n`);
    await t.rejects(openDatabase({ dataDir }), /in use by process/, "another live process's claim holds");
    await writeFile(claim, `${spawnSync("true").pid}\n`);
    db = await openDatabase({ dataDir });
    t.teardown(() => db.close());
    t.equal((await db.prisma.user.findUniqueOrThrow({ where: { usernameKey: "ada" } })).username, "Ada");
    t.strictSame(await migrate(db), { applied: [] });
  });

  t.test("locks exclude other holders in the process", async (t) => {
    const { db } = await freshEmbedded(t);
    const r = await db.withAdvisoryLock("job", async () => {
      const inner = await db.withAdvisoryLock("job", async () => 1, { wait: false });
      // Prisma queries inside a held lock must not deadlock on PGlite.
      const users = await db.prisma.user.count();
      return { inner, users };
    });
    t.strictSame(r, { acquired: true, value: { inner: { acquired: false }, users: 0 } });
  });
});
