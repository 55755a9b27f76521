import { accessSync, constants } from "node:fs";
import { parseDuration } from "./lib/duration.js";

export type Algorithm = "ES256" | "RS256" | "EdDSA";

export interface RedisNode {
  host: string;
  port: number;
}

/** Credentials and TLS for the Redis data nodes (a `redis://` URL carries its own). */
export interface RedisAuth {
  username?: string;
  password?: string;
  /** TLS to the data nodes (and, with Sentinel, to the sentinels). */
  tls: boolean;
  /** A CA bundle (PEM file) to trust instead of the system's. */
  tlsCaFile?: string;
}

/** Which Redis the service uses (SPEC §8): one server, a Sentinel group, or a Cluster. */
export type RedisTopology =
  | { kind: "standalone"; url: string }
  | ({ kind: "sentinel"; sentinels: RedisNode[]; masterName: string; sentinelUsername?: string; sentinelPassword?: string } & RedisAuth)
  | ({ kind: "cluster"; nodes: RedisNode[] } & RedisAuth);
export type DeviceChangePolicy = "revoke" | "flag" | "allow";

/** Configuration, grouped so each module receives only the slice it needs. */
export interface Config {
  readonly server: { host: string; port: number; trustProxy: boolean; bodyLimit: number };
  readonly storage: {
    databaseUrl?: string;
    /** Undefined without Redis (in-process revocation fan-out and rate limits). */
    redis?: RedisTopology;
    redisKeyPrefix: string;
    dataDir: string;
    migrateOnStart: boolean;
    poolSize: number;
  };
  readonly tokens: {
    issuer: string;
    audience: string[];
    algorithm: Algorithm;
    accessTokenTtlMs: number;
    keyRotationIntervalMs: number;
    /** How long a new key is published before it signs; also the JWKS max-age bound. */
    keyPrepublishMs: number;
    keyEncryptionKey?: string;
  };
  readonly sessions: {
    refreshTokenTtlMs: number;
    sessionMaxLifetimeMs: number;
    refreshReuseGraceMs: number;
    maxSessionsPerUser: number;
    deviceChangePolicy: DeviceChangePolicy | "default";
  };
  readonly revocation: { maxStalenessMs: number };
  readonly rateLimit: {
    /** Failures free before backoff starts, per key family. */
    loginPerUser: number;
    loginPerIp: number;
    refreshPerIp: number;
    clientAuth: number;
    windowMs: number;
    maxBlockMs: number;
    /** Optional per-service-client request ceiling (requests per second); undefined = off. */
    clientRequestsPerSecond?: number;
  };
  readonly cleanup: { intervalMs: number; sessionRetentionMs: number; auditRetentionMs: number; batchSize: number };
  readonly cookies: { secure: boolean; sameSite: "strict" | "lax" };
  readonly admin: { clientId?: string; clientSecret?: string };
  readonly log: { level: string };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

type Env = Record<string, string | undefined>;

/** Every variable the service reads, with its default (documented in the README). */
export const ENV_DEFAULTS = {
  HOST: "0.0.0.0",
  PORT: "3000",
  DATA_DIR: "./data",
  MIGRATE_ON_START: "true",
  DATABASE_POOL_SIZE: "10",
  ACCESS_TOKEN_TTL: "10m",
  REFRESH_TOKEN_TTL: "7d",
  SESSION_MAX_LIFETIME: "30d",
  REFRESH_REUSE_GRACE: "10s",
  MAX_SESSIONS_PER_USER: "10",
  DEVICE_CHANGE_POLICY: "default",
  KEY_ALGORITHM: "ES256",
  KEY_ROTATION_INTERVAL: "30d",
  KEY_PREPUBLISH: "1h",
  MAX_REVOCATION_STALENESS: "30s",
  COOKIE_SECURE: "true",
  COOKIE_SAMESITE: "strict",
  TRUST_PROXY: "false",
  BODY_LIMIT: "16384",
  LOG_LEVEL: "info",
  REDIS_KEY_PREFIX: "sa:",
  REDIS_TLS: "false",
  RATE_LIMIT_LOGIN_PER_USER: "5",
  RATE_LIMIT_LOGIN_PER_IP: "20",
  RATE_LIMIT_REFRESH_PER_IP: "20",
  RATE_LIMIT_CLIENT_AUTH: "5",
  RATE_LIMIT_WINDOW: "15m",
  RATE_LIMIT_MAX_BLOCK: "15m",
  CLIENT_REQUEST_CEILING: "off",
  CLEANUP_INTERVAL: "1h",
  SESSION_RETENTION: "7d",
  AUDIT_RETENTION: "90d",
  CLEANUP_BATCH_SIZE: "1000",
} as const;

/**
 * Reads and validates the environment. Collects every problem before failing
 * so an operator fixes them all in one go.
 */
export function loadConfig(env: Env): Config {
  const problems: string[] = [];
  const get = (name: keyof typeof ENV_DEFAULTS): string => {
    const v = env[name];
    return v === undefined || v === "" ? ENV_DEFAULTS[name] : v;
  };
  const optional = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  const duration = (name: keyof typeof ENV_DEFAULTS, min = 1): number => {
    const ms = parseDuration(get(name));
    if (ms === undefined || ms < min) {
      problems.push(`${name}=${JSON.stringify(get(name))} is not a duration (seconds, or a number with ms/s/m/h/d)`);
      return 1;
    }
    return ms;
  };
  const integer = (name: keyof typeof ENV_DEFAULTS, min: number, max: number): number => {
    const raw = get(name);
    const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a whole number from ${min} to ${max}`);
      return min;
    }
    return n;
  };
  const bool = (name: keyof typeof ENV_DEFAULTS): boolean => {
    const raw = get(name).toLowerCase();
    if (raw === "true" || raw === "1") return true;
    if (raw === "false" || raw === "0") return false;
    problems.push(`${name}=${JSON.stringify(get(name))} must be true or false`);
    return false;
  };
  const oneOf = <T extends string>(name: keyof typeof ENV_DEFAULTS, allowed: readonly T[]): T => {
    const raw = get(name);
    if ((allowed as readonly string[]).includes(raw)) return raw as T;
    problems.push(`${name}=${JSON.stringify(raw)} must be one of ${allowed.join(", ")}`);
    return allowed[0]!;
  };

  const ceiling = (raw: string): number | undefined => {
    if (raw === "off") return undefined;
    const m = /^(\d+)(?:\/s)?$/.exec(raw);
    if (!m || Number(m[1]) < 1) {
      problems.push(`CLIENT_REQUEST_CEILING=${JSON.stringify(raw)} must be "off" or requests per second, e.g. 5000/s`);
      return undefined;
    }
    return Number(m[1]);
  };
  const host = get("HOST");
  const port = integer("PORT", 0, 65535);
  const databaseUrl = optional("DATABASE_URL");
  if (databaseUrl !== undefined) {
    const problem = urlProblem(databaseUrl, ["postgres:", "postgresql:"]);
    if (problem) problems.push(`DATABASE_URL must be a postgres:// or postgresql:// URL (${problem})`);
  }
  const redis = redisTopology(optional, bool("REDIS_TLS"), problems);
  const keyEncryptionKey = optional("KEY_ENCRYPTION_KEY");
  if (keyEncryptionKey !== undefined && keyEncryptionKey.length < 32) {
    problems.push("KEY_ENCRYPTION_KEY must be at least 32 characters (e.g. `openssl rand -base64 32`)");
  } else if (databaseUrl !== undefined && keyEncryptionKey === undefined) {
    problems.push("KEY_ENCRYPTION_KEY is required when DATABASE_URL is set (at least 32 characters)");
  }
  const adminClientId = optional("ADMIN_CLIENT_ID");
  const adminClientSecret = optional("ADMIN_CLIENT_SECRET");
  if ((adminClientId === undefined) !== (adminClientSecret === undefined)) {
    problems.push("ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET must be set together");
  } else if (adminClientSecret !== undefined && adminClientSecret.length < 16) {
    problems.push("ADMIN_CLIENT_SECRET must be at least 16 characters");
  }

  const issuer = optional("ISSUER") ?? `http://${host === "0.0.0.0" || host === "::" ? "localhost" : host}:${port}`;
  try {
    new URL(issuer);
  } catch {
    problems.push(`ISSUER=${JSON.stringify(issuer)} must be a URL`);
  }
  const audience = (optional("AUDIENCE") ?? issuer)
    .split(",")
    .map((a) => a.trim())
    .filter(Boolean);

  const accessTokenTtlMs = duration("ACCESS_TOKEN_TTL", 1000);
  const refreshTokenTtlMs = duration("REFRESH_TOKEN_TTL", 1000);
  const sessionMaxLifetimeMs = duration("SESSION_MAX_LIFETIME", 1000);
  const refreshReuseGraceMs = duration("REFRESH_REUSE_GRACE", 0);
  const keyRotationIntervalMs = duration("KEY_ROTATION_INTERVAL", 60_000);
  const keyPrepublishMs = duration("KEY_PREPUBLISH", 1000);
  const maxStalenessMs = duration("MAX_REVOCATION_STALENESS", 1000);
  // SPEC §2: an access token never outlives the session's idle expiry at issue.
  if (accessTokenTtlMs > refreshTokenTtlMs) {
    problems.push("ACCESS_TOKEN_TTL must not be longer than REFRESH_TOKEN_TTL (the idle lifetime)");
  }
  if (keyPrepublishMs >= keyRotationIntervalMs) {
    problems.push("KEY_PREPUBLISH must be shorter than KEY_ROTATION_INTERVAL");
  }

  const config: Config = {
    server: { host, port, trustProxy: bool("TRUST_PROXY"), bodyLimit: integer("BODY_LIMIT", 1024, 1 << 20) },
    storage: {
      databaseUrl,
      redis,
      redisKeyPrefix: get("REDIS_KEY_PREFIX"),
      dataDir: get("DATA_DIR"),
      migrateOnStart: bool("MIGRATE_ON_START"),
      poolSize: integer("DATABASE_POOL_SIZE", 1, 200),
    },
    tokens: {
      issuer,
      audience,
      algorithm: oneOf("KEY_ALGORITHM", ["ES256", "RS256", "EdDSA"] as const),
      accessTokenTtlMs,
      keyRotationIntervalMs,
      keyPrepublishMs,
      keyEncryptionKey,
    },
    sessions: {
      refreshTokenTtlMs,
      sessionMaxLifetimeMs,
      refreshReuseGraceMs,
      maxSessionsPerUser: integer("MAX_SESSIONS_PER_USER", 1, 1000),
      deviceChangePolicy: oneOf("DEVICE_CHANGE_POLICY", ["default", "revoke", "flag", "allow"] as const),
    },
    revocation: { maxStalenessMs },
    rateLimit: {
      loginPerUser: integer("RATE_LIMIT_LOGIN_PER_USER", 1, 10_000),
      loginPerIp: integer("RATE_LIMIT_LOGIN_PER_IP", 1, 100_000),
      refreshPerIp: integer("RATE_LIMIT_REFRESH_PER_IP", 1, 100_000),
      clientAuth: integer("RATE_LIMIT_CLIENT_AUTH", 1, 10_000),
      windowMs: duration("RATE_LIMIT_WINDOW", 1000),
      maxBlockMs: duration("RATE_LIMIT_MAX_BLOCK", 1000),
      clientRequestsPerSecond: ceiling(get("CLIENT_REQUEST_CEILING")),
    },
    cleanup: {
      intervalMs: duration("CLEANUP_INTERVAL", 1000),
      sessionRetentionMs: duration("SESSION_RETENTION", 0),
      auditRetentionMs: duration("AUDIT_RETENTION", 0),
      batchSize: integer("CLEANUP_BATCH_SIZE", 1, 100_000),
    },
    cookies: { secure: bool("COOKIE_SECURE"), sameSite: oneOf("COOKIE_SAMESITE", ["strict", "lax"] as const) },
    admin: { clientId: adminClientId, clientSecret: adminClientSecret },
    log: { level: oneOf("LOG_LEVEL", ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const) },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/**
 * What is wrong with a backing-service URL, or null. Never repeats the URL:
 * it may hold a password. The drivers would otherwise fail later, with a
 * stack trace that names no variable.
 */
function urlProblem(raw: string, protocols: string[], path?: RegExp): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "it does not parse; a port must be a number from 0 to 65535";
  }
  if (!protocols.includes(url.protocol)) return `the scheme is ${url.protocol.replace(/:$/, "")}`;
  if (url.hostname === "" && !url.searchParams.has("host")) return "it names no host";
  if (path && !path.test(url.pathname)) return "the database number after the host must be a number";
  return null;
}

/**
 * REDIS_URL (one server), REDIS_SENTINELS with REDIS_SENTINEL_MASTER, or
 * REDIS_CLUSTER_NODES: at most one of the three.
 */
function redisTopology(optional: (name: string) => string | undefined, tls: boolean, problems: string[]): RedisTopology | undefined {
  const url = optional("REDIS_URL");
  const sentinels = optional("REDIS_SENTINELS");
  const clusterNodes = optional("REDIS_CLUSTER_NODES");
  const chosen = [url && "REDIS_URL", sentinels && "REDIS_SENTINELS", clusterNodes && "REDIS_CLUSTER_NODES"].filter(Boolean);
  if (chosen.length > 1) {
    problems.push(`${chosen.join(" and ")} are alternatives: set only one`);
    return undefined;
  }
  const auth: RedisAuth = {
    tls,
    username: optional("REDIS_USERNAME"),
    password: optional("REDIS_PASSWORD"),
    tlsCaFile: optional("REDIS_TLS_CA_FILE"),
  };
  if (auth.tlsCaFile !== undefined && !readable(auth.tlsCaFile))
    problems.push(`REDIS_TLS_CA_FILE=${JSON.stringify(auth.tlsCaFile)} cannot be read`);
  if (!url && !sentinels && !clusterNodes) {
    for (const name of [
      "REDIS_USERNAME",
      "REDIS_PASSWORD",
      "REDIS_TLS_CA_FILE",
      "REDIS_SENTINEL_MASTER",
      "REDIS_SENTINEL_USERNAME",
      "REDIS_SENTINEL_PASSWORD",
    ]) {
      if (optional(name) !== undefined) problems.push(`${name} is set but no Redis is (REDIS_URL, REDIS_SENTINELS or REDIS_CLUSTER_NODES)`);
    }
    return undefined;
  }
  if (url !== undefined) {
    const problem = urlProblem(url, ["redis:", "rediss:"], /^\/?\d*$/);
    if (problem) problems.push(`REDIS_URL must be a redis:// or rediss:// URL (${problem})`);
    for (const name of ["REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_TLS_CA_FILE"]) {
      if (optional(name) !== undefined)
        problems.push(
          `${name} applies to REDIS_SENTINELS and REDIS_CLUSTER_NODES; REDIS_URL carries its own credentials (rediss:// for TLS)`,
        );
    }
    if (tls) problems.push("REDIS_TLS applies to REDIS_SENTINELS and REDIS_CLUSTER_NODES; with REDIS_URL, use a rediss:// URL");
    return { kind: "standalone", url };
  }
  if (sentinels !== undefined) {
    const masterName = optional("REDIS_SENTINEL_MASTER");
    if (masterName === undefined) problems.push("REDIS_SENTINEL_MASTER (the name the sentinels monitor) is required with REDIS_SENTINELS");
    return {
      kind: "sentinel",
      sentinels: nodeList("REDIS_SENTINELS", sentinels, problems),
      masterName: masterName ?? "",
      sentinelUsername: optional("REDIS_SENTINEL_USERNAME"),
      sentinelPassword: optional("REDIS_SENTINEL_PASSWORD"),
      ...auth,
    };
  }
  for (const name of ["REDIS_SENTINEL_MASTER", "REDIS_SENTINEL_USERNAME", "REDIS_SENTINEL_PASSWORD"]) {
    if (optional(name) !== undefined) problems.push(`${name} applies only to REDIS_SENTINELS`);
  }
  return { kind: "cluster", nodes: nodeList("REDIS_CLUSTER_NODES", clusterNodes!, problems), ...auth };
}

function readable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/** "host:port,host:port" (IPv6 in brackets: "[::1]:7000"). */
function nodeList(name: string, raw: string, problems: string[]): RedisNode[] {
  const nodes: RedisNode[] = [];
  for (const item of raw.split(",").map((s) => s.trim())) {
    const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(item);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535) {
      problems.push(`${name}=${JSON.stringify(raw)} must be a comma-separated list of host:port`);
      return [];
    }
    nodes.push({ host: m[1]!.replace(/^\[|\]$/g, ""), port });
  }
  return nodes;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
