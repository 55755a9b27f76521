import { randomBytes } from "node:crypto";
import pg from "pg";
import type { Scope } from "./scope.js";

/** The local server (BENCH_POSTGRES_URL, default trust auth on loopback). */
export function postgresUrl(database = "postgres"): string {
  const url = new URL(process.env.BENCH_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/postgres");
  url.pathname = `/${database}`;
  return url.toString();
}

/** Runs fn on one connection to `url`. */
export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A new, uniquely named, empty database, dropped when the scope closes. */
export async function scratchDatabase(scope: Scope, label: string): Promise<{ name: string; url: string }> {
  const name = `sa_bench_${label}_${process.pid}_${randomBytes(3).toString("hex")}`;
  await withClient(postgresUrl(), (c) => c.query(`CREATE DATABASE ${name}`));
  scope.defer(`database ${name}`, () => withClient(postgresUrl(), (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)));
  return { name, url: postgresUrl(name) };
}

/**
 * Users straight into the table (the admin API hashes each password with
 * argon2id, seconds per hundred). These users never log in: their password
 * hash is a placeholder. Returns their ids.
 */
export async function seedUsers(url: string, count: number, label = "bench"): Promise<string[]> {
  return withClient(url, async (c) => {
    const r = await c.query<{ id: string }>(
      `INSERT INTO users (id, username, username_key, password_hash)
       SELECT gen_random_uuid(), $1 || i, $1 || i, 'not-a-password-hash'
       FROM generate_series(1, $2::int) AS i
       RETURNING id`,
      [`${label}_${randomBytes(3).toString("hex")}_`, count],
    );
    return r.rows.map((row) => row.id);
  });
}
