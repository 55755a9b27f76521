import type { Config } from "./config.js";
import { SealedKeyError } from "./keys/key-manager.js";
import { isDatabaseUnavailable } from "./storage/unavailable.js";

/** One line for the operator, and the exit code: 2 for configuration, 1 for a backing service away. */
export interface StartupFailure {
  line: string;
  exitCode: 1 | 2;
}

/** host:port of a URL, never its credentials. */
export function whereOf(url: string | undefined, defaultPort: number): string {
  try {
    const u = new URL(url ?? "");
    return `${u.hostname || u.searchParams.get("host") || "localhost"}:${u.port || defaultPort}`;
  } catch {
    return "an unparsable URL";
  }
}

const codeOf = (err: unknown, depth = 0): string | undefined => {
  if (!err || typeof err !== "object" || depth > 6) return undefined;
  const e = err as { code?: unknown; originalCode?: unknown; cause?: unknown; meta?: { driverAdapterError?: unknown } };
  if (typeof e.originalCode === "string") return e.originalCode;
  if (typeof e.code === "string" && /^[0-9A-Z]{5}$|^E[A-Z]+$/.test(e.code)) return e.code;
  return codeOf(e.cause, depth + 1) ?? codeOf(e.meta?.driverAdapterError, depth + 1);
};

const reasonOf = (err: unknown): string => {
  const code = codeOf(err);
  const message = err instanceof Error ? (err.message.split("\n").filter(Boolean).pop() ?? "") : String(err);
  return code && !message.includes(code) ? `${code} ${message}`.trim() : message;
};

/**
 * What went wrong at start, as the operator can act on it: which variable,
 * or which backing service and where. Null for anything else (a bug: the
 * caller prints it in full).
 */
export function startupFailure(err: unknown, config: Config): StartupFailure | null {
  const code = codeOf(err);
  const postgres = config.storage.databaseUrl;
  if (postgres !== undefined) {
    const where = whereOf(postgres, 5432);
    if (code === "28P01" || code === "28000")
      return { line: `DATABASE_URL: Postgres at ${where} refused the credentials (${code})`, exitCode: 2 };
    if (code === "3D000") return { line: `DATABASE_URL: Postgres at ${where} has no such database (${code})`, exitCode: 2 };
    if (code === "ENOTFOUND") return { line: `DATABASE_URL: the host of Postgres at ${where} is unknown (ENOTFOUND)`, exitCode: 2 };
    if (isDatabaseUnavailable(err)) return { line: `cannot reach Postgres at ${where} (DATABASE_URL): ${reasonOf(err)}`, exitCode: 1 };
  }
  if (err instanceof SealedKeyError) {
    return {
      line: postgres
        ? "KEY_ENCRYPTION_KEY does not open the signing keys stored in the database: it is not the key they were sealed with"
        : `DATA_DIR=${config.storage.dataDir}: the key-encryption key in the data folder does not open its signing keys`,
      exitCode: 2,
    };
  }
  if (postgres === undefined && err instanceof Error && /data folder .* in use/.test(err.message)) {
    return { line: `DATA_DIR=${config.storage.dataDir}: ${err.message}`, exitCode: 1 };
  }
  if (postgres === undefined && (code === "EACCES" || code === "EROFS" || code === "ENOTDIR" || code === "EPERM")) {
    return { line: `DATA_DIR=${config.storage.dataDir} cannot be used for the embedded database (${code})`, exitCode: 2 };
  }
  return null;
}

/** A listen error naming HOST/PORT, or null. */
export function listenFailure(err: unknown, config: Config): StartupFailure | null {
  const code = codeOf(err);
  const at = `${config.server.host}:${config.server.port}`;
  if (code === "EADDRINUSE") return { line: `PORT=${config.server.port}: ${at} is already in use`, exitCode: 2 };
  if (code === "EACCES") return { line: `PORT=${config.server.port}: not allowed to listen on ${at} (EACCES)`, exitCode: 2 };
  if (code === "EADDRNOTAVAIL" || code === "ENOTFOUND")
    return { line: `HOST=${config.server.host}: no such local address (${code})`, exitCode: 2 };
  return null;
}
