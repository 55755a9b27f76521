import { UnavailableError } from "../domain/errors.js";

/**
 * Is this error the database being away or too busy to answer (not
 * reachable, starting up, shutting down, out of connections, pool exhausted,
 * a lock or statement timeout), rather than a bug? Such errors are outage or
 * load: the answer is 503 with Retry-After (SPEC §5 `unavailable`), never a
 * 500. One rule for every layer that can raise them: node-postgres and its
 * pool, the native SQL driver (the same pg errors), Prisma (which wraps a
 * driver error as P2039/P2010 with the SQLSTATE under
 * `meta.driverAdapterError.cause.originalCode`) and PGlite.
 */

/** Prisma: can't reach, timed out, server closed, pool timeout, transaction could not start, too many connections. */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028", "P2037"]);
/** Prisma driver-adapter error kinds (@prisma/driver-adapter-utils). */
const ADAPTER_KINDS = new Set([
  "DatabaseNotReachable",
  "ConnectionClosed",
  "SocketTimeout",
  "TooManyConnections",
  "TransactionAlreadyClosed",
]);
const NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN", "ENOTFOUND"]);
/**
 * SQLSTATE: class 08 (connection exception); 53300 too many connections;
 * 55P03 lock not available (lock_timeout, NOWAIT); 57014 query canceled
 * (statement_timeout); 57P01 admin shutdown, 57P02 crash shutdown, 57P03
 * cannot connect now (starting up, in recovery).
 */
const SQLSTATE = /^(08[0-9A-Z]{3}|53300|55P03|57014|57P0[123])$/;
/** Errors that carry no code: the pg pool's and client's own, and PGlite's after close. */
const MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Can't reach database|Timed out fetching a new connection|Unable to start a transaction|Query read timeout|server closed the connection|is not queryable|Client was closed|Cannot use a pool after calling end|PGlite is closed|the database system is (starting up|shutting down|not yet accepting connections|in recovery mode)|too many clients already/i;

const MAX_DEPTH = 8;

export function isDatabaseUnavailable(err: unknown): boolean {
  return check(err, 0, new Set());
}

function check(err: unknown, depth: number, seen: Set<object>): boolean {
  if (!err || typeof err !== "object" || depth > MAX_DEPTH || seen.has(err)) return false;
  seen.add(err);
  const e = err as {
    code?: unknown;
    originalCode?: unknown;
    kind?: unknown;
    message?: unknown;
    cause?: unknown;
    meta?: unknown;
    errors?: unknown;
  };
  if (typeof e.code === "string" && (PRISMA_CODES.has(e.code) || NODE_CODES.has(e.code) || SQLSTATE.test(e.code))) return true;
  if (typeof e.originalCode === "string" && SQLSTATE.test(e.originalCode)) return true;
  if (typeof e.kind === "string" && ADAPTER_KINDS.has(e.kind)) return true;
  if (typeof e.message === "string" && MESSAGES.test(e.message)) return true;
  // Where each layer keeps the error it wraps.
  const meta = e.meta as { driverAdapterError?: unknown } | undefined;
  const inner: unknown[] = [e.cause, meta?.driverAdapterError, ...(Array.isArray(e.errors) ? e.errors : [])];
  return inner.some((i) => check(i, depth + 1, seen));
}

/** The domain's 503 for an unavailability error, anything else unchanged: for stores whose callers branch on it. */
export function asUnavailable(err: unknown): unknown {
  return err instanceof UnavailableError || !isDatabaseUnavailable(err)
    ? err
    : new UnavailableError("the database is unavailable; retry shortly", 1, err);
}
