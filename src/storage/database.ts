// One handle on the database, whichever kind serves it (SPEC §1): a real
// Postgres when a URL is given, otherwise an embedded PGlite persisted in a
// data folder. Both give a Prisma client plus the two things Prisma cannot do
// for us: run multi-statement migration scripts and take advisory locks.
import { createHash } from "node:crypto";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient } from "../generated/prisma/client.js";
import { pgliteSqlDriver, pgSqlDriver, type SqlDriver } from "./sql-driver.js";

export interface DatabaseOptions {
  /** A postgres:// URL; without it the embedded database in `dataDir` is used. */
  url?: string;
  /** Folder of the embedded database (ignored when `url` is set). */
  dataDir: string;
  /** Size of Prisma's connection pool on Postgres (default 10). */
  poolSize?: number;
}

/** A lock name, hashed to a 64-bit key, or the raw key itself (e.g. Prisma Migrate's). */
export type LockKey = string | bigint;

export type LockResult<T> = { acquired: true; value: T } | { acquired: false };

export interface Database {
  readonly kind: "postgres" | "embedded";
  readonly prisma: PrismaClient;
  /** The same connections as `prisma`, for the session aggregate's SQL (storage/sessions/). */
  readonly sql: SqlDriver;
  /** Runs a multi-statement SQL script outside Prisma (migrations). */
  execScript(sql: string): Promise<void>;
  /**
   * Runs `fn` while holding the advisory lock `name`; with `wait: false`
   * returns `{ acquired: false }` at once if another holder has it.
   */
  withAdvisoryLock<T>(name: LockKey, fn: () => Promise<T>, opts?: { wait?: boolean }): Promise<LockResult<T>>;
  /** Throws if the database cannot answer a query. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const CONNECT_TIMEOUT_MS = 5_000;
/** No query of ours runs long; one that hangs is a dead connection, not work. */
const QUERY_TIMEOUT_MS = 15_000;
/** No pooled statement waits longer for a row lock: past it the answer is 503, not a pinned connection. */
const LOCK_TIMEOUT_MS = 5_000;

/** Maps a lock name to the signed 64-bit key pg_advisory_lock takes. */
export function advisoryLockKey(name: LockKey): bigint {
  if (typeof name === "bigint") return BigInt.asIntN(64, name);
  // A hash of our own rather than Postgres' hashtext(), whose output is not
  // promised to stay the same across Postgres versions.
  return createHash("sha256").update(name).digest().readBigInt64BE(0);
}

/**
 * Opens the database: Postgres at `url` when given, else PGlite in `dataDir`.
 * Does not migrate; see migrate().
 */
export async function openDatabase(opts: DatabaseOptions): Promise<Database> {
  return opts.url ? openPostgres(opts.url, opts.poolSize ?? 10) : openEmbedded(opts.dataDir);
}

async function openPostgres(url: string, poolSize: number): Promise<Database> {
  // keepAlive and a query timeout: on a silent network (a partition, not a
  // refusal) a pooled connection must fail rather than wait forever.
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: `-c lock_timeout=${LOCK_TIMEOUT_MS}`,
  });
  // An idle connection that drops must not crash the process (the next query reconnects).
  pool.on("error", () => {});
  // One pool for Prisma and for the few hot statements that bypass its query
  // layer (sql-driver.ts): the connection count stays the configured size.
  const adapter = new PrismaPg(pool);
  const prisma = new PrismaClient({ adapter });
  const sql = pgSqlDriver(pool);
  const mutex = new KeyedMutex();

  // Scripts and locks get a connection of their own, outside Prisma's pool: a
  // lock belongs to a session, and a failed script could leave a pooled one in
  // an aborted transaction. Both are rare, and lock waiters can't drain a pool.
  async function withClient<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
    client.on("error", () => {}); // a dropped connection must not crash the process
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  return {
    kind: "postgres",
    prisma,
    sql,
    async execScript(sql) {
      // Without parameters pg uses the simple query protocol, which accepts
      // several statements and runs them as one implicit transaction.
      await withClient((client) => client.query(sql));
    },
    async withAdvisoryLock(name, fn, opts) {
      const key = advisoryLockKey(name);
      const wait = opts?.wait ?? true;
      // Callers in this process queue here first, so only one connection per
      // key ever waits on Postgres.
      const release = wait ? await mutex.acquire(key) : mutex.tryAcquire(key);
      if (!release) return { acquired: false };
      try {
        return await withClient(async (client) => {
          // Session-level, not transaction-level: fn runs its own queries and
          // transactions on Prisma's connections while this session holds it.
          const lockFn = wait ? "pg_advisory_lock" : "pg_try_advisory_lock";
          const r = await client.query(`SELECT ${lockFn}($1::bigint) AS ok`, [key.toString()]);
          if (!wait && r.rows[0]?.ok !== true) return { acquired: false } as const;
          try {
            return { acquired: true, value: await fn() } as const;
          } finally {
            await client.query("SELECT pg_advisory_unlock($1::bigint)", [key.toString()]).catch(() => {});
          }
        });
      } finally {
        release();
      }
    },
    async ping() {
      await prisma.$queryRawUnsafe("SELECT 1");
    },
    close: once(async () => {
      await prisma.$disconnect();
      await pool.end();
    }),
  };
}

async function openEmbedded(dataDir: string): Promise<Database> {
  // Postgres refuses a data directory others can read; keep the same rule.
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  // PGlite does not stop a second process from opening the same folder (which
  // corrupts it), so claim the folder for this process first.
  const unclaim = await claimDataDir(dataDir);
  let db: PGlite;
  try {
    db = await PGlite.create(dataDir);
  } catch (err) {
    await unclaim();
    throw err;
  }
  // PGlite runs one transaction at a time and queues the rest, and Prisma
  // counts that queueing against maxWait (2 s by default): allow a longer
  // queue so that bursts of short transactions wait instead of failing.
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(db), transactionOptions: { maxWait: 15_000 } });
  const sql = pgliteSqlDriver(db);
  const mutex = new KeyedMutex();

  return {
    kind: "embedded",
    prisma,
    sql,
    async execScript(sql) {
      try {
        await db.exec(sql); // queued behind any Prisma transaction, never inside one
      } catch (err) {
        // A script with its own BEGIN leaves the single session in an aborted
        // transaction on error; roll back so Prisma's next query works.
        if (db.isInTransaction()) await db.exec("ROLLBACK").catch(() => {});
        throw err;
      }
    },
    async withAdvisoryLock(name, fn, opts) {
      // PGlite is one session shared by all of Prisma, and a session never
      // blocks on its own advisory locks, so pg_advisory_lock would exclude
      // nothing here. The folder claim above keeps other processes out, which
      // leaves this process: a process-local lock excludes all holders.
      const key = advisoryLockKey(name);
      const release = (opts?.wait ?? true) ? await mutex.acquire(key) : mutex.tryAcquire(key);
      if (!release) return { acquired: false };
      try {
        return { acquired: true, value: await fn() };
      } finally {
        release();
      }
    },
    async ping() {
      await prisma.$queryRawUnsafe("SELECT 1");
    },
    close: once(async () => {
      await prisma.$disconnect();
      await db.close();
      await unclaim();
    }),
  };
}

/** Makes close() safe to call twice: a second call must not release a reopened folder. */
function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}

/** Process-local FIFO locks, one queue per key. */
class KeyedMutex {
  readonly #tails = new Map<bigint, Promise<void>>();

  /** Resolves with the release function once every earlier holder released. */
  async acquire(key: bigint): Promise<() => void> {
    const { ready, release } = this.#enqueue(key);
    await ready;
    return release;
  }

  /** The release function, or undefined if the key is held or queued for. */
  tryAcquire(key: bigint): (() => void) | undefined {
    return this.#tails.has(key) ? undefined : this.#enqueue(key).release;
  }

  #enqueue(key: bigint): { ready: Promise<void>; release: () => void } {
    const ready = this.#tails.get(key) ?? Promise.resolve();
    let done!: () => void;
    const tail = ready.then(() => new Promise<void>((r) => (done = r)));
    this.#tails.set(key, tail);
    const release = () => {
      done();
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    return { ready, release };
  }
}

const LOCK_FILE = "session-authority.lock";
const claimedDirs = new Set<string>();

/** Claims `dir` for this process with a pid file; resolves with the unclaim function. */
async function claimDataDir(dir: string): Promise<() => Promise<void>> {
  const file = resolve(dir, LOCK_FILE);
  if (claimedDirs.has(file)) throw new Error(`the data folder ${dir} is already open in this process`);
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, `${process.pid}\n`, { flag: "wx", mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = Number.parseInt(await readFile(file, "utf8").catch(() => ""), 10);
      // A claim is stale when its process is gone, or when it bears our own
      // pid without being ours (an earlier run with the same pid, as pid 1 in
      // a container). An unreadable claim may be one being written: keep it.
      const stale = pid > 0 && (pid === process.pid || !isAlive(pid));
      if (attempt > 0 || !stale) {
        throw new Error(`the data folder ${dir} is in use by process ${pid || "?"} (delete ${file} if it is not)`);
      }
      await rm(file, { force: true });
    }
  }
  claimedDirs.add(file);
  return async () => {
    claimedDirs.delete(file);
    await rm(file, { force: true });
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
