/**
 * The port the domain uses to throttle failed attempts (SPEC §6): per
 * username and IP on /login, per IP on refresh, per client id and IP on
 * client authentication. Plain TypeScript: the Redis and in-process
 * implementations live beside it.
 */

/** Key families, each with its own backoff policy. */
export const ATTEMPT_FAMILIES = ["login:user", "login:user-ip", "login:ip", "refresh:ip", "client", "client-ip"] as const;
export type AttemptFamily = (typeof ATTEMPT_FAMILIES)[number];

/** `<family>:<subject>`, e.g. `login:user:alice` or `client-ip:203.0.113.7`. */
export type AttemptKey = `${AttemptFamily}:${string}`;

/**
 * Builds keys so callers never hand-format them (the username must already
 * be normalised). A pair puts the address first: an address holds no space,
 * so `<ip> <subject>` is unambiguous whatever the subject contains.
 */
export const attemptKey = {
  loginUser: (usernameKey: string): AttemptKey => `login:user:${usernameKey}`,
  loginUserIp: (usernameKey: string, ip: string): AttemptKey => `login:user-ip:${ip} ${usernameKey}`,
  loginIp: (ip: string): AttemptKey => `login:ip:${ip}`,
  refreshIp: (ip: string): AttemptKey => `refresh:ip:${ip}`,
  /** A client id is not a secret: its failures are counted per client and address, never per client alone. */
  client: (clientId: string, ip: string): AttemptKey => `client:${ip} ${clientId}`,
  clientIp: (ip: string): AttemptKey => `client-ip:${ip}`,
} as const;

/**
 * A key that blocks only callers whose own `gate` key has failures on
 * record: an account's key (failures from every address) stops the
 * addresses that failed on that account, never one that has not, so
 * strangers cannot lock its owner out.
 */
export interface GatedKey {
  key: AttemptKey;
  gate: AttemptKey;
}

// Longest first, so "login:user" wins over a shorter family that prefixes it.
const BY_LENGTH = [...ATTEMPT_FAMILIES].sort((a, b) => b.length - a.length);

/** The family of a key; subjects may contain ':' (IPv6, usernames). */
export function familyOf(key: AttemptKey): AttemptFamily {
  const family = BY_LENGTH.find((f) => key.startsWith(`${f}:`));
  if (family === undefined) throw new TypeError(`not an attempt key: ${JSON.stringify(key)}`);
  return family;
}

export interface FailureOutcome {
  /** Keys this failure left blocked (empty while failures are still free). */
  blocked: AttemptKey[];
  /** Seconds until every key of this call is usable again; 0 when none is blocked. */
  retryAfterSeconds: number;
}

/**
 * Exponential backoff on failures. Only failures count: a caller checks
 * before the attempt, and reports its outcome after it.
 */
export interface AttemptLimiter {
  /**
   * Throws `RateLimitedError` (with the longest wait of the blocked keys) if
   * any key is blocked; resolves otherwise. Runs on every attempt, so it
   * costs at most one round trip for all keys. A gated key counts only
   * when its gate has failures.
   */
  check(keys: readonly AttemptKey[], gated?: readonly GatedKey[]): Promise<void>;
  /** Records one failure on each key; a failure past the free allowance blocks that key. */
  fail(keys: readonly AttemptKey[]): Promise<FailureOutcome>;
  /**
   * Forgets the keys' failures. Call it with the username key after a good
   * login, never with an IP key: one valid account must not let an attacker
   * reset the counter of the address it is guessing other passwords from.
   */
  succeed(keys: readonly AttemptKey[]): Promise<void>;
}
