// The SQL port of the session aggregate (storage/sessions/): statements run
// on the pg pool Prisma also uses (no extra connections), or on embedded
// PGlite, passed explicitly to the repository that needs it. Prisma owns
// the schema, the migrations and every other read and write (SPEC §1).
import type { PGlite } from "@electric-sql/pglite";
import type pg from "pg";
import { createHash } from "node:crypto";
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

/** SQL text spliced into a statement as is: only module constants, never input. */
export class SqlText {
  constructor(readonly text: string) {}
}

export const sqlText = (text: string): SqlText => new SqlText(text);

interface Shape {
  text: string;
  name: string;
  /** Which interpolations are parameters (the rest are SqlText). */
  params: boolean[];
}

/** Per call site: a tagged template's strings array is the same object on every call. */
const shapes = new WeakMap<TemplateStringsArray, Shape>();

/**
 * Tagged template: interpolations become parameters, never SQL text, except
 * SqlText constants. The statement of one call site is always the same, so
 * its text and name are built once per call site.
 */
export function sql(strings: TemplateStringsArray, ...values: unknown[]): Statement {
  let shape = shapes.get(strings);
  if (shape === undefined) {
    let text = strings[0]!;
    let n = 0;
    const params = values.map((v) => !(v instanceof SqlText));
    for (let i = 1; i < strings.length; i++) {
      const v = values[i - 1];
      text += (v instanceof SqlText ? v.text : `$${++n}`) + strings[i];
    }
    shape = { text, name: `sa_${createHash("sha256").update(text).digest("hex").slice(0, 24)}`, params };
    shapes.set(strings, shape);
  }
  const params = shape.params;
  return { text: shape.text, values: params.every(Boolean) ? values : values.filter((_, i) => params[i]), name: shape.name };
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
      // A checked-out connection that dies between statements emits 'error'
      // rather than failing a query: keep it, so it is not uncaught, and
      // let the next statement fail and the connection be discarded.
      const onError = (e: unknown) => (broken = e);
      client.on("error", onError);
      try {
        await client.query("BEGIN");
        const result = await work({ query: (s) => run(client, s) });
        await client.query("COMMIT");
        return result;
      } catch (err) {
        // A connection that cannot roll back is not given back to the pool.
        await client.query("ROLLBACK").catch((e: unknown) => (broken = e));
        throw translatePg(err);
      } finally {
        client.off("error", onError);
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
