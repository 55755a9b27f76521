import type { VerifierClock } from "./clock.js";
import { systemClock } from "./clock.js";
import type { FetchFn } from "./http.js";

export interface VerifierOptions {
  /** Expected `iss`, exactly. */
  issuer: string;
  /** Accepted `aud` value(s): a token must name at least one. */
  audience: string | string[];
  /** Default `${issuer}/.well-known/jwks.json`. */
  jwksUri?: string;
  /** The revocation list endpoint, e.g. `${issuer}/revocations`; its stream is `${revocationsUri}/stream`. */
  revocationsUri: string;
  /** A service client with scope `revocations:read`. */
  clientId: string;
  clientSecret: string;
  /**
   * Reject every token once the revocation list has not synced for this
   * long. Default: the bound the service advertises (its
   * MAX_REVOCATION_STALENESS), and 30 s until it has.
   */
  maxStalenessMs?: number;
  /**
   * Reject a token whose `exp - iat` is longer than this. Default: the
   * longest lifetime the service advertises (its ACCESS_TOKEN_TTL), and
   * 24 h for a server that advertises none.
   */
  maxTokenLifetimeMs?: number;
  /** Default the global fetch. */
  fetch?: FetchFn;
  /** Default the system clock. */
  clock?: VerifierClock;
  /** How often to poll while the stream is down. Default a third of the staleness bound. */
  pollIntervalMs?: number;
  /** Timeout of one HTTP request (for the stream: until its headers arrive). Default pollIntervalMs, within 1–10 s. */
  requestTimeoutMs?: number;
  /** Drop a stream that sends nothing for this long. Default 15 s (the server sends a heartbeat at least every 5 s). */
  streamIdleTimeoutMs?: number;
  /** Stream reconnection backoff. Default 0.5 s doubling to 30 s. */
  reconnectDelayMs?: { min: number; max: number };
  /** Least time between JWKS refetches caused by unknown kids. Default 30 s. */
  jwksCooldownMs?: number;
  /** Bound on the verified-token cache. Default 10 000; 0 disables it. */
  maxCachedTokens?: number;
  /** Background failures (fetches, stream drops, malformed answers), for logging. */
  onError?: (err: unknown) => void;
}

/** Options with every default filled in and every value checked. */
export interface ResolvedOptions {
  issuer: string;
  audience: string | string[];
  jwksUri: string;
  revocationsUri: string;
  clientId: string;
  clientSecret: string;
  maxStalenessMs: number;
  /** False when maxStalenessMs is the default, which the server's bound then replaces. */
  stalenessGiven: boolean;
  /** False when pollIntervalMs is derived from the staleness bound. */
  pollGiven: boolean;
  maxTokenLifetimeSec: number;
  /** False when maxTokenLifetimeSec is the default, which the server's bound then replaces. */
  lifetimeGiven: boolean;
  fetch: FetchFn;
  clock: VerifierClock;
  /** True when no clock was given: jose then reads the time itself. */
  systemTime: boolean;
  pollIntervalMs: number;
  requestTimeoutMs: number;
  streamIdleTimeoutMs: number;
  reconnectDelayMs: { min: number; max: number };
  jwksCooldownMs: number;
  maxCachedTokens: number;
  onError: (err: unknown) => void;
}

const DEFAULT_MAX_TOKEN_LIFETIME_MS = 24 * 3600_000;

/** The default poll interval for a staleness bound: a third of it, so two polls may fail before verify() fails closed. */
export const pollIntervalFor = (maxStalenessMs: number): number => Math.max(100, Math.floor(maxStalenessMs / 3));

/** Fills in defaults; throws TypeError for a missing or nonsensical option (a configuration error, not a token error). */
export function resolveOptions(o: VerifierOptions): ResolvedOptions {
  const issuer = requireString(o.issuer, "issuer");
  const maxStalenessMs = positive(o.maxStalenessMs ?? 30_000, "maxStalenessMs");
  const pollIntervalMs = positive(o.pollIntervalMs ?? pollIntervalFor(maxStalenessMs), "pollIntervalMs");
  const reconnect = o.reconnectDelayMs ?? { min: 500, max: 30_000 };
  positive(reconnect.min, "reconnectDelayMs.min");
  if (!(positive(reconnect.max, "reconnectDelayMs.max") >= reconnect.min))
    throw new TypeError("createVerifier: reconnectDelayMs.max must be at least .min");
  const maxCachedTokens = o.maxCachedTokens ?? 10_000;
  if (!Number.isInteger(maxCachedTokens) || maxCachedTokens < 0)
    throw new TypeError("createVerifier: maxCachedTokens must be a whole number");
  return {
    issuer,
    audience: Array.isArray(o.audience) ? o.audience.map((a) => requireString(a, "audience")) : requireString(o.audience, "audience"),
    jwksUri: o.jwksUri === undefined ? `${issuer.replace(/\/+$/, "")}/.well-known/jwks.json` : requireString(o.jwksUri, "jwksUri"),
    revocationsUri: requireString(o.revocationsUri, "revocationsUri").replace(/\/+$/, ""),
    clientId: requireString(o.clientId, "clientId"),
    clientSecret: requireString(o.clientSecret, "clientSecret"),
    maxStalenessMs,
    stalenessGiven: o.maxStalenessMs !== undefined,
    pollGiven: o.pollIntervalMs !== undefined,
    maxTokenLifetimeSec: Math.floor(positive(o.maxTokenLifetimeMs ?? DEFAULT_MAX_TOKEN_LIFETIME_MS, "maxTokenLifetimeMs") / 1000),
    lifetimeGiven: o.maxTokenLifetimeMs !== undefined,
    fetch: o.fetch ?? globalThis.fetch,
    clock: o.clock ?? systemClock,
    systemTime: o.clock === undefined,
    pollIntervalMs,
    requestTimeoutMs: positive(o.requestTimeoutMs ?? Math.min(10_000, Math.max(1_000, pollIntervalMs)), "requestTimeoutMs"),
    streamIdleTimeoutMs: positive(o.streamIdleTimeoutMs ?? 15_000, "streamIdleTimeoutMs"),
    reconnectDelayMs: { min: reconnect.min, max: reconnect.max },
    jwksCooldownMs: positive(o.jwksCooldownMs ?? 30_000, "jwksCooldownMs"),
    maxCachedTokens,
    onError: o.onError ?? (() => {}),
  };
}

function requireString(v: unknown, name: string): string {
  if (typeof v !== "string" || v.length === 0) throw new TypeError(`createVerifier: ${name} must be a non-empty string`);
  return v;
}

function positive(v: number, name: string): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) throw new TypeError(`createVerifier: ${name} must be a positive number`);
  return v;
}
