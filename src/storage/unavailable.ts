/**
 * Is this error the database being away (refused, reset, timed out, pool
 * exhausted), rather than a bug? Such errors are load or outage: the answer
 * is 503 with Retry-After (SPEC §5 `unavailable`), never a 500.
 */
const PRISMA_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2028"]);
const ADAPTER_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections", "TransactionAlreadyClosed"]);
const NODE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"]);
const MESSAGES = /Connection terminated|connection timeout|Can't reach database|Timed out fetching a new connection|Unable to start a transaction|Query read timeout|server closed the connection/i;

export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== "object" || depth > 5) return false;
  const e = err as { code?: unknown; kind?: unknown; message?: unknown; cause?: unknown; originalCode?: unknown };
  if (typeof e.code === "string") {
    if (PRISMA_CODES.has(e.code) || NODE_CODES.has(e.code)) return true;
    // SQLSTATE class 08 (connection exception) and 57P01–57P03 (shutdown, cannot connect now).
    if (/^08[0-9A-Z]{3}$/.test(e.code) || /^57P0[123]$/.test(e.code)) return true;
  }
  if (typeof e.originalCode === "string" && /^(08|57P0[123])/.test(e.originalCode)) return true;
  if (typeof e.kind === "string" && ADAPTER_KINDS.has(e.kind)) return true;
  if (typeof e.message === "string" && MESSAGES.test(e.message)) return true;
  return isDatabaseUnavailable(e.cause, depth + 1);
}
