// Applications (SPEC §10): the clients of sessions, each with a policy whose
// fields default to the service-wide values. resolvePolicy is the one place
// that decides which value a session of an application follows.
import { parseDuration } from "../lib/duration.js";
import type { SessionPolicy } from "./session-policy.js";
import type { Transport } from "./types.js";

export const DEFAULT_APPLICATION_ID = "default";

/** An application id, which is also its `client_id` (RFC 9068). */
export const APPLICATION_ID = /^[a-z0-9._-]{1,64}$/;

export type OnLimit = "evict_oldest" | "deny";

/** Every rule a session of an application follows. */
export interface ApplicationPolicy extends SessionPolicy {
  onLimit: OnLimit;
}

/** What an application sets; an absent or null field takes the service-wide value. */
export type PolicyOverrides = { [K in keyof ApplicationPolicy]?: ApplicationPolicy[K] | null };

export interface Application {
  id: string;
  name: string;
  transports: Transport[];
  origins: string[];
  policy: PolicyOverrides;
  createdAt: Date;
  updatedAt: Date;
}

/** The policy fields, their wire names (SPEC §10) and their kinds. */
export const POLICY_FIELDS = [
  { key: "accessTokenTtlMs", wire: "access_token_ttl", kind: "duration" },
  { key: "refreshTokenTtlMs", wire: "refresh_token_ttl", kind: "duration" },
  { key: "sessionMaxLifetimeMs", wire: "session_max_lifetime", kind: "duration" },
  { key: "maxSessionsPerUser", wire: "max_sessions_per_user", kind: "count" },
  { key: "onLimit", wire: "on_limit", kind: ["evict_oldest", "deny"] },
  { key: "refreshReuseGraceMs", wire: "refresh_reuse_grace", kind: "duration" },
  { key: "deviceChangePolicy", wire: "device_change_policy", kind: ["default", "revoke", "flag", "allow"] },
] as const satisfies readonly { key: keyof ApplicationPolicy; wire: string; kind: unknown }[];

/** The policy a session of an application follows: each field the application sets, else the service-wide one. */
export function resolvePolicy(defaults: ApplicationPolicy, overrides: PolicyOverrides): ApplicationPolicy {
  const out: Record<string, unknown> = { ...defaults };
  for (const { key } of POLICY_FIELDS) {
    const v = overrides[key];
    if (v !== undefined && v !== null) out[key] = v;
  }
  return out as unknown as ApplicationPolicy;
}

/** Where a session's application lives in the ports: the resolved policy, from memory (no query per request). */
export interface PolicySource {
  policyOf(clientId: string): ApplicationPolicy;
}

/**
 * The lifetimes a new session of the application carries (sessions.access_ttl_ms,
 * idle_ttl_ms): the application's own values, null where it follows the
 * service-wide one. Null rather than the current default, so that such a
 * session keeps following the service-wide value as the application does
 * (a changed REFRESH_TOKEN_TTL reaches it too), and the default
 * application's sessions store nothing extra.
 */
export function sessionLifetimeColumns(policy: PolicyOverrides): { accessTtlMs: number | null; idleTtlMs: number | null } {
  return { accessTtlMs: policy.accessTokenTtlMs ?? null, idleTtlMs: policy.refreshTokenTtlMs ?? null };
}

/** Lower bounds, the service-wide configuration's (config.ts). */
const MIN_MS = { accessTokenTtlMs: 1000, refreshTokenTtlMs: 1000, sessionMaxLifetimeMs: 1000, refreshReuseGraceMs: 0 } as const;
const MAX_SESSIONS = 1000;

export type PolicyInput = Record<string, unknown>;

/**
 * Reads a policy as the admin API takes it: durations as §9's strings or
 * whole seconds, `null` to return a field to the default. Unknown members
 * are refused, so that a misspelt field never silently does nothing.
 */
export function parsePolicy(input: PolicyInput): { policy: PolicyOverrides } | { problem: string } {
  const policy: Record<string, unknown> = {};
  const known = new Set<string>(POLICY_FIELDS.map((f) => f.wire));
  for (const name of Object.keys(input)) if (!known.has(name)) return { problem: `unknown policy field ${JSON.stringify(name)}` };
  for (const f of POLICY_FIELDS) {
    if (!(f.wire in input)) continue;
    const v = input[f.wire];
    if (v === null) {
      policy[f.key] = null;
      continue;
    }
    if (f.kind === "duration") {
      const ms =
        typeof v === "number"
          ? Number.isSafeInteger(v) && v >= 0
            ? v * 1000
            : undefined
          : typeof v === "string"
            ? parseDuration(v)
            : undefined;
      const min = MIN_MS[f.key as keyof typeof MIN_MS];
      if (ms === undefined || ms < min || ms > MAX_DURATION_MS)
        return { problem: `${f.wire} must be a duration (whole seconds, or a number with ms/s/m/h/d) of at least ${min} ms` };
      policy[f.key] = ms;
    } else if (f.kind === "count") {
      if (!Number.isSafeInteger(v) || (v as number) < 1 || (v as number) > MAX_SESSIONS)
        return { problem: `${f.wire} must be a whole number from 1 to ${MAX_SESSIONS}` };
      policy[f.key] = v;
    } else {
      if (typeof v !== "string" || !(f.kind as readonly string[]).includes(v))
        return { problem: `${f.wire} must be one of ${f.kind.join(", ")}` };
      policy[f.key] = v;
    }
  }
  return { policy: policy as PolicyOverrides };
}

/** Ten years: longer is a typo, and keeps every instant a valid Date. */
const MAX_DURATION_MS = 10 * 365 * 86_400_000;

/**
 * A resolved policy the service can keep, or why not. The access lifetime
 * is bounded by the application's idle lifetime (SPEC §10) and by the
 * service-wide ACCESS_TOKEN_TTL: key retirement, revocation entries and
 * verifiers' bounds all assume no token lives longer than that.
 */
export function policyProblem(p: ApplicationPolicy, serviceAccessTokenTtlMs: number): string | null {
  if (p.accessTokenTtlMs > p.refreshTokenTtlMs) return "access_token_ttl must not be longer than refresh_token_ttl (the idle lifetime)";
  if (p.accessTokenTtlMs > serviceAccessTokenTtlMs)
    return `access_token_ttl must not be longer than the service's ACCESS_TOKEN_TTL (${serviceAccessTokenTtlMs / 1000} s)`;
  return null;
}

/** The wire form of a policy: every field the application sets (durations in whole or fractional seconds). */
export function policyToWire(policy: PolicyOverrides): Record<string, number | string> {
  const out: Record<string, number | string> = {};
  for (const f of POLICY_FIELDS) {
    const v = policy[f.key];
    if (v === undefined || v === null) continue;
    out[f.wire] = f.kind === "duration" ? (v as number) / 1000 : (v as number | string);
  }
  return out;
}

/** An origin as browsers send it: scheme, host and port, nothing else. */
export function normalizeOrigin(text: string): string | null {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return null;
  }
  if ((u.protocol !== "https:" && u.protocol !== "http:") || u.username || u.password) return null;
  if (`${u.origin}` !== text.replace(/\/$/, "")) return null;
  return u.origin;
}
