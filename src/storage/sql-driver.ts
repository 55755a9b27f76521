// A minimal SQL port for the few hot statements (refresh rotation,
// issuance) that Prisma's query layer makes too expensive: measured on this
// service's machine, a $queryRaw costs about 250 µs of CPU against 60 µs for
// the same statement on the pg pool underneath, and an interactive
// transaction of two raw statements 750 µs against 115 µs. Everything else
// stays on Prisma. The same statements run on Postgres (the pg pool Prisma
// also uses, so no extra connections) and on embedded PGlite, and through
// Prisma itself where no native driver was registered.
import type { PGlite } from "@electric-sql/pglite";
import type pg from "pg";
import { createHash } from "node:crypto";
import type { Prisma, PrismaClient } from "../generated/prisma/client.js";
import { asUnavailable } from "./unavailable.js";

/** A statement with positional parameters ($1, $2, …) and a stable name for server-side preparation. */
export interface Statement {
  text: string;
  values: unknown[];
  /** Same text, same name: Postgres parses and plans it once per connection. */
  name: string;
}

export interface SqlQueryable {
  query<R>(statement: Statement): Promise<R[]>;
}

export interface SqlDriver extends SqlQueryable {
  /** Runs `work` inside BEGIN … COMMIT on one connection; ROLLBACK if it throws. */
  transaction<T>(work: (q: SqlQueryable) => Promise<T>): Promise<T>;
}

/** Per call site: a tagged template's strings array is the same object on every call. */
const shapes = new WeakMap<TemplateStringsArray, { text: string; name: string }>();

/**
 * Tagged template: interpolations become parameters, never SQL text. The
 * statement text of one call site is always the same, so its name is too;
 * both are built once per call site.
 */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Statement {
  let shape = shapes.get(strings);
  if (shape === undefined) {
    let text = strings[0]!;
    for (let i = 1; i < strings.length; i++) text += `$${i}${strings[i]}`;
    shape = { text, name: `sa_${createHash("sha256").update(text).digest("hex").slice(0, 24)}` };
    shapes.set(strings, shape);
  }
  return { text: shape.text, values, name: shape.name };
}

/** Outage and load (pool exhausted, server restarting…) are the domain's 503, not bugs. */
const translatePg = asUnavailable;

/** Postgres through the pg pool. */
export function pgSqlDriver(pool: pg.Pool): SqlDriver {
  const run = async <R>(client: pg.Pool | pg.PoolClient, s: Statement): Promise<R[]> =>
    (await client.query({ name: s.name, text: s.text, values: s.values })).rows as R[];
  return {
    async query(s) {
      try {
        return await run(pool, s);
      } catch (err) {
        throw translatePg(err);
      }
    },
    async transaction(work) {
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw translatePg(err);
      }
      let broken: unknown;
      try {
        await client.query("BEGIN");
        const result = await work({ query: (s) => run(client, s) });
        await client.query("COMMIT");
        return result;
      } catch (err) {
        // A connection that cannot roll back is not given back to the pool.
        await client.query("ROLLBACK").catch((e: unknown) => (broken = e));
        throw err;
      } finally {
        client.release(broken instanceof Error ? broken : undefined);
      }
    },
  };
}

/** Embedded PGlite: one session; its own mutex queues transactions and single statements alike. */
export function pgliteSqlDriver(db: PGlite): SqlDriver {
  return {
    async query(s) {
      return (await db.query(s.text, s.values)).rows as never[];
    },
    transaction(work) {
      return db.transaction((tx) => work({ query: async (s) => (await tx.query(s.text, s.values)).rows as never[] }));
    },
  };
}

/** Any PrismaClient, through its raw queries: correct everywhere, only slower. */
export function prismaSqlDriver(prisma: PrismaClient): SqlDriver {
  return {
    query: (s) => prisma.$queryRawUnsafe(s.text, ...s.values),
    transaction: (work) => prisma.$transaction((tx) => work(prismaTxQueryable(tx))),
  };
}

/** Raw statements inside a Prisma interactive transaction. */
export function prismaTxQueryable(tx: Prisma.TransactionClient): SqlQueryable {
  return { query: (s) => tx.$queryRawUnsafe(s.text, ...s.values) };
}

const drivers = new WeakMap<PrismaClient, SqlDriver>();

/** Records the native driver under a PrismaClient the database layer opened. */
export function registerSqlDriver(prisma: PrismaClient, driver: SqlDriver): void {
  drivers.set(prisma, driver);
}

/** The native driver under this PrismaClient, or Prisma's raw queries when none was registered. */
export function sqlDriverFor(prisma: PrismaClient): SqlDriver {
  return drivers.get(prisma) ?? prismaSqlDriver(prisma);
}
