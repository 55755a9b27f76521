// Applies prisma/migrations the way `prisma migrate deploy` does, without
// Prisma's native schema engine: same folder layout, same _prisma_migrations
// rows, same advisory lock. Either tool can take over from the other.
import { createHash, randomUUID } from "node:crypto";
import { readFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Database } from "./database.js";

/** The advisory lock key `prisma migrate` takes, so the two exclude each other. */
export const PRISMA_MIGRATE_LOCK = 72707369n;

/** prisma/migrations, from src/storage under tsx as from dist/storage after tsc. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL("../../prisma/migrations", import.meta.url));

// Prisma's own DDL for the table (sql-schema-connector, postgres flavour).
const MIGRATIONS_TABLE_DDL = `CREATE TABLE IF NOT EXISTS _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             TIMESTAMPTZ,
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          TIMESTAMPTZ,
    started_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    applied_steps_count     INTEGER NOT NULL DEFAULT 0
);`;

export interface MigrationFile {
  name: string;
  sql: string;
  /** sha256 hex of migration.sql's bytes, as Prisma computes it. */
  checksum: string;
}

interface MigrationRow {
  id: string;
  checksum: string;
  migration_name: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
}

/** Reads `<dir>/<name>/migration.sql` for every migration folder, in name order. */
export async function readMigrations(dir: string = DEFAULT_MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  // Prisma orders folders by name; the timestamp prefix makes that creation order.
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(join(dir, name, "migration.sql"));
      return { name, sql: bytes.toString("utf8"), checksum: sha256(bytes) };
    }),
  );
}

/**
 * Applies the pending migrations in name order, each in its own transaction,
 * under Prisma Migrate's advisory lock, and records them in
 * `_prisma_migrations` as `prisma migrate deploy` would. Throws, before
 * applying anything, if an applied migration's file changed or a migration
 * is recorded as failed.
 */
export async function migrate(db: Database, opts: { dir?: string; log?: (msg: string) => void } = {}): Promise<{ applied: string[] }> {
  const log = opts.log ?? (() => {});
  const migrations = await readMigrations(opts.dir);
  const locked = await db.withAdvisoryLock(PRISMA_MIGRATE_LOCK, async () => {
    await ensureMigrationsTable(db);
    const rows = await db.prisma.$queryRawUnsafe<MigrationRow[]>(
      "SELECT id, checksum, migration_name, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at",
    );
    const pending = planMigrations(migrations, rows);
    const applied: string[] = [];
    for (const m of pending) {
      log(`applying migration ${m.name}`);
      await applyMigration(db, m);
      applied.push(m.name);
    }
    log(applied.length ? `applied ${applied.length} migration(s)` : "no pending migrations");
    return applied;
  });
  // Only a wait: false caller can be refused; keep the type checker honest.
  if (!locked.acquired) throw new Error("could not take the migration lock");
  return { applied: locked.value };
}

/** Checks the recorded history against the files; returns what is left to apply. */
function planMigrations(migrations: MigrationFile[], rows: MigrationRow[]): MigrationFile[] {
  const live = rows.filter((r) => r.rolled_back_at === null);
  const failed = live.filter((r) => r.finished_at === null);
  if (failed.length > 0) {
    const names = failed.map((r) => r.migration_name).join(", ");
    throw new Error(
      `migration ${names} is recorded as started but not finished in _prisma_migrations ` +
        "(it failed or was interrupted). Check the database, then run " +
        "`prisma migrate resolve --rolled-back <name>` (or --applied) before migrating again.",
    );
  }
  const pending: MigrationFile[] = [];
  for (const m of migrations) {
    const done = live.filter((r) => r.migration_name === m.name);
    if (done.length === 0) pending.push(m);
    else if (!done.some((r) => scriptMatchesChecksum(m, r.checksum))) {
      throw new Error(
        `migration ${m.name} was modified after it was applied: ` +
          `recorded checksum ${done[0]?.checksum}, migration.sql has ${m.checksum}`,
      );
    }
  }
  return pending;
}

async function ensureMigrationsTable(db: Database): Promise<void> {
  const [exists] = await db.prisma.$queryRawUnsafe<{ ok: boolean }[]>("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS ok");
  if (exists?.ok) return;
  // Like Prisma (P3005), refuse to start a history on a database that
  // already has tables: they did not come from these migrations.
  const tables = await db.prisma.$queryRawUnsafe<{ name: string }[]>(
    "SELECT tablename::text AS name FROM pg_tables WHERE schemaname = current_schema()",
  );
  if (tables.length > 0) {
    throw new Error(
      `the database schema is not empty (${tables.map((t) => t.name).join(", ")}) and has no ` +
        "_prisma_migrations table; baseline it first (prisma migrate resolve --applied)",
    );
  }
  await db.execScript(MIGRATIONS_TABLE_DDL);
}

async function applyMigration(db: Database, m: MigrationFile): Promise<void> {
  const id = randomUUID();
  // One simple-protocol script is one implicit transaction: the row, the
  // migration and its completion commit together or not at all, so a crash
  // part-way leaves nothing behind. The newline before the UPDATE ends a
  // trailing "--" comment in the file.
  const script =
    `INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name) ` +
    `VALUES (${lit(id)}, ${lit(m.checksum)}, now(), ${lit(m.name)});\n` +
    `${m.sql}\n;\n` +
    `UPDATE _prisma_migrations SET applied_steps_count = applied_steps_count + 1, ` +
    `finished_at = clock_timestamp() WHERE id = ${lit(id)};`;
  try {
    await db.execScript(script);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    // Record the failure as Prisma does (logs set, finished_at null): the
    // next run then stops until an operator resolves it.
    await db.prisma
      .$executeRawUnsafe(
        "INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name, logs) " +
          "VALUES ($1, $2, now(), $3, $4) ON CONFLICT (id) DO UPDATE SET logs = EXCLUDED.logs",
        id,
        m.checksum,
        m.name,
        message,
      )
      .catch(() => {});
    throw new Error(`migration ${m.name} failed: ${message}`, { cause: err });
  }
}

/** Like Prisma, accepts a file whose line endings git changed since it was applied. */
function scriptMatchesChecksum(m: MigrationFile, checksum: string): boolean {
  if (m.checksum === checksum) return true;
  const variants = [m.sql.replaceAll("\r\n", "\n"), m.sql.replaceAll("\n", "\r\n")];
  return variants.some((v) => sha256(Buffer.from(v, "utf8")) === checksum);
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** A SQL string literal (standard_conforming_strings is on since Postgres 9.1). */
function lit(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
