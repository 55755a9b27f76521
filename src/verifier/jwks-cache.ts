import { importJWK, type CryptoKey, type JWK } from "jose";
import type { VerifierClock } from "./clock.js";
import { KeysUnavailableError, TokenInvalidError } from "./errors.js";
import { getJson, type FetchFn } from "./http.js";
import { sleep } from "./sleep.js";

export interface JwksCacheOptions {
  uri: string;
  fetch: FetchFn;
  clock: VerifierClock;
  /** Aborts every fetch and the start-up retry loop (close()). */
  signal: AbortSignal;
  requestTimeoutMs: number;
  /** Least time between two fetches caused by unknown kids. */
  cooldownMs: number;
  /** The algorithms a key may be used with. */
  algorithms: readonly string[];
  onError(err: unknown): void;
  /** Called with the kids of every set loaded. */
  onLoad(kids: ReadonlySet<string>): void;
}

/** A published verification key, imported once. */
export interface VerificationKey {
  alg: string;
  key: CryptoKey;
}

/** When the server gives no usable Cache-Control max-age. */
const DEFAULT_MAX_AGE_MS = 5 * 60_000;
const MAX_AGE_BOUNDS_MS = [1_000, 60 * 60_000] as const;
/** While no set is loaded, verify() may trigger a fetch at most this often. */
const EMPTY_RETRY_MS = 1_000;
const MAX_JWKS_BYTES = 1 << 20;
export const MAX_KID_LENGTH = 256;

/**
 * The issuer's JWKS, fetched once and kept as a kid → imported key map, so
 * a signature check costs what jwtVerify with a key in hand costs (jose's
 * createLocalJWKSet re-filters the set on every call). The copy is refreshed
 * in the background once its Cache-Control max-age has passed (it keeps
 * serving meanwhile), and refetched at once when a token names a kid it
 * lacks, since that may be a key rotated in after the copy was taken (OpenID
 * Connect Core §10.1.1). Such refetches are at most one per `cooldownMs`: a
 * flood of tokens with made-up kids costs the issuer one request per
 * cooldown, not one per token (supabase/auth-js#1080). Fetches are
 * single-flight.
 */
export class JwksCache {
  private keys: ReadonlyMap<string, VerificationKey> | null = null;
  private raw = new Map<string, string>();
  private fetchedAt = 0;
  private maxAgeMs = DEFAULT_MAX_AGE_MS;
  private lastAttemptAt = Number.NEGATIVE_INFINITY;
  private lastError: unknown;
  private inflight: Promise<boolean> | null = null;

  constructor(private readonly opts: JwksCacheOptions) {}

  get loaded(): boolean {
    return this.keys !== null;
  }

  get size(): number {
    return this.keys?.size ?? 0;
  }

  /** The key for a kid from the cached copy, without any I/O; undefined if unknown or nothing is loaded. */
  lookup(kid: string): VerificationKey | undefined {
    return this.keys?.get(kid);
  }

  /**
   * The key for a kid, fetching the JWKS when nothing is loaded yet or the
   * kid is unknown (within the cooldown). Throws TokenInvalidError
   * (`unknown_kid`) or KeysUnavailableError.
   */
  async resolve(kid: string): Promise<VerificationKey> {
    const now = this.opts.clock.now().getTime();
    if (this.keys === null) {
      if (this.inflight) await this.inflight;
      else if (now - this.lastAttemptAt >= EMPTY_RETRY_MS) await this.refresh();
      if (this.keys === null) throw new KeysUnavailableError({ cause: this.lastError });
    }
    let found = this.keys.get(kid);
    if (found === undefined) {
      if (this.inflight) await this.inflight;
      else if (now - this.lastAttemptAt >= this.opts.cooldownMs) await this.refresh();
      found = this.keys.get(kid);
    }
    if (found === undefined) throw new TokenInvalidError("unknown_kid", "the token is signed by an unknown key");
    return found;
  }

  /**
   * Stale-while-revalidate: once the copy is older than its max-age, refresh
   * it in the background and keep verifying with it meanwhile. Called by the
   * verifier's upkeep timer (not per token: the hot path reads no clock for
   * it), so a key withdrawn from the JWKS is noticed even while every token
   * is served from the claims cache.
   */
  maintain(): void {
    if (this.keys === null || this.inflight !== null) return;
    const now = this.opts.clock.now().getTime();
    if (now - this.fetchedAt >= this.maxAgeMs && now - this.lastAttemptAt >= EMPTY_RETRY_MS) void this.refresh();
  }

  /** Fetches the JWKS now (or joins the fetch in flight); true if a set was loaded. */
  refresh(): Promise<boolean> {
    if (this.inflight) return this.inflight;
    this.lastAttemptAt = this.opts.clock.now().getTime();
    const attempt = this.load().then(
      () => true,
      (err: unknown) => {
        this.lastError = err;
        if (!this.opts.signal.aborted) this.opts.onError(err);
        return false;
      },
    );
    this.inflight = attempt;
    void attempt.then(() => {
      if (this.inflight === attempt) this.inflight = null;
    });
    return attempt;
  }

  /** Retries with backoff until a first set is loaded or the signal aborts. */
  async loadInitial(): Promise<boolean> {
    let delay = 250;
    while (!this.opts.signal.aborted) {
      if (this.keys !== null || (await this.refresh())) return true;
      if (!(await sleep(delay, this.opts.signal))) break;
      delay = Math.min(delay * 2, 30_000);
    }
    return false;
  }

  private async load(): Promise<void> {
    const { body, headers } = await getJson(
      this.opts.fetch,
      this.opts.uri,
      {},
      this.opts.signal,
      this.opts.requestTimeoutMs,
      MAX_JWKS_BYTES,
    );
    if (typeof body !== "object" || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
      throw new Error("the JWKS is not a JSON Web Key Set (RFC 7517 §5)");
    }
    const keys = new Map<string, VerificationKey>();
    const raw = new Map<string, string>();
    const ambiguous = new Set<string>();
    for (const jwk of (body as { keys: unknown[] }).keys) {
      const usable = usableJwk(jwk, this.opts.algorithms);
      if (!usable) continue;
      const { kid, alg } = usable;
      // RFC 7517 §4.5: kids should be unique; a duplicated one names no key.
      if (raw.has(kid) || ambiguous.has(kid)) {
        ambiguous.add(kid);
        keys.delete(kid);
        continue;
      }
      const text = JSON.stringify(jwk);
      raw.set(kid, text);
      const prev = this.keys?.get(kid);
      if (prev !== undefined && this.raw.get(kid) === text) {
        keys.set(kid, prev);
        continue;
      }
      try {
        const key = await importJWK(jwk as JWK, alg);
        if (key instanceof Uint8Array || key.type !== "public") throw new Error(`JWKS key ${kid} is not a public key`);
        keys.set(kid, { alg, key });
      } catch (err) {
        // One bad key must not take the others down with it.
        this.opts.onError(err);
      }
    }
    for (const kid of ambiguous) keys.delete(kid);
    this.keys = keys;
    this.raw = raw;
    this.fetchedAt = this.opts.clock.now().getTime();
    this.maxAgeMs = maxAgeOf(headers.get("cache-control"));
    this.opts.onLoad(new Set(keys.keys()));
  }
}

/** The kid and algorithm of a JWK that may verify signatures, or null to skip it. */
function usableJwk(jwk: unknown, algorithms: readonly string[]): { kid: string; alg: string } | null {
  if (typeof jwk !== "object" || jwk === null) return null;
  const k = jwk as JWK;
  if (typeof k.kid !== "string" || k.kid.length === 0 || k.kid.length > MAX_KID_LENGTH) return null;
  // RFC 7517 §4.2–4.3: only signature-verification keys.
  if (k.use !== undefined && k.use !== "sig") return null;
  if (k.key_ops !== undefined && !(Array.isArray(k.key_ops) && k.key_ops.includes("verify"))) return null;
  if ("d" in k) return null; // a private key has no business in a JWKS
  const alg = k.alg ?? inferAlg(k);
  if (alg === undefined || !algorithms.includes(alg)) return null;
  return { kid: k.kid, alg };
}

/** The algorithm a JWK without `alg` can only be meant for (RFC 7518 §3.1, RFC 8037 §3.1). */
function inferAlg(k: JWK): string | undefined {
  if (k.kty === "EC" && k.crv === "P-256") return "ES256";
  if (k.kty === "RSA") return "RS256";
  if (k.kty === "OKP" && k.crv === "Ed25519") return "EdDSA";
  return undefined;
}

/** RFC 9111 §5.2.2.1 max-age, bounded; the default when absent or unusable. */
function maxAgeOf(cacheControl: string | null): number {
  const m = cacheControl === null ? null : /(?:^|,)\s*max-age\s*=\s*"?(\d+)"?\s*(?:,|$)/i.exec(cacheControl);
  if (!m) return DEFAULT_MAX_AGE_MS;
  return Math.min(MAX_AGE_BOUNDS_MS[1], Math.max(MAX_AGE_BOUNDS_MS[0], Number(m[1]) * 1000));
}
