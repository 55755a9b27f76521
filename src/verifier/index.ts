/**
 * `session-authority/verifier`: local verification of the session
 * authority's access tokens for sibling Node services (SPEC §7). Imports
 * only jose and Node built-ins.
 *
 * @example
 * const verifier = createVerifier({ issuer, audience, revocationsUri, clientId, clientSecret });
 * await verifier.ready();
 * const claims = await verifier.verify(token, { transport: "header" });
 */
import { errors, jwtVerify, type CryptoKey, type JWTHeaderParameters, type JWTPayload, type JWTVerifyOptions } from "jose";
import { ClaimsCache } from "./claims-cache.js";
import { customClaimsOf } from "./registered-claims.js";
import { RevocationListStaleError, TokenInvalidError, TokenRevokedError, TransportMismatchError, VerifierError } from "./errors.js";
import { basicAuthorization } from "./http.js";
import { JwksCache, MAX_KID_LENGTH } from "./jwks-cache.js";
import { pollIntervalFor, resolveOptions, type VerifierOptions } from "./options.js";
import { RevocationSet } from "./revocation-set.js";
import { RevocationSync, type StreamState } from "./revocation-sync.js";
import type { ServerBounds } from "./revocation-wire.js";
import { implausibleWindow } from "./token-window.js";

export {
  KeysUnavailableError,
  RevocationListStaleError,
  TokenInvalidError,
  TokenRevokedError,
  TransportMismatchError,
  VerifierError,
  type VerifierErrorCode,
} from "./errors.js";
export type { VerifierClock } from "./clock.js";
export type { VerifierOptions } from "./options.js";
export type { RevocationEntry } from "./revocation-set.js";

/** SPEC §10: the application of sessions whose tokens name none (they predate applications). */
const DEFAULT_CLIENT_ID = "default";

/** Where the caller found the token: an `Authorization` header or a cookie. */
export type TokenTransport = "header" | "cookie";

/** The claims of a verified access token (SPEC §2). Frozen: results are shared between callers. */
export interface VerifiedClaims extends JWTPayload {
  iss: string;
  sub: string;
  aud: string | string[];
  iat: number;
  exp: number;
  jti: string;
  sid: string;
  trn: "bearer" | "cookie";
  /** SPEC §10: the application the session belongs to (`default` for tokens minted before applications). */
  client_id: string;
  /** SPEC §11: when and how the user authenticated (absent on tokens minted before them). */
  auth_time?: number;
  amr?: readonly string[];
  acr?: string;
  /** SPEC §11: the custom claims (roles, tenant, …): everything but the registered names; {} when none. */
  claims: Readonly<Record<string, unknown>>;
}

export interface VerifierStatus {
  keysLoaded: boolean;
  revocationsSyncedAt: Date | null;
  /** verify() would answer RevocationListStaleError now. */
  stale: boolean;
  stream: StreamState;
  revocationEntries: number;
  cachedTokens: number;
}

export interface Verifier {
  /**
   * Resolves the token's claims, or rejects with a {@link VerifierError}:
   * TokenInvalidError, TransportMismatchError, TokenRevokedError,
   * RevocationListStaleError, KeysUnavailableError.
   */
  verify(token: string, options: { transport: TokenTransport }): Promise<VerifiedClaims>;
  /** Resolves after the first JWKS load and the first revocation-list sync; rejects if closed first. */
  ready(): Promise<void>;
  /** Stops the stream, polls and timers; resolves when they have wound down. */
  close(): Promise<void>;
  status(): VerifierStatus;
}

/** Asymmetric algorithms only (SPEC §2): `none` and HMAC can never pass, so no algorithm confusion. */
const ALGORITHMS = ["ES256", "RS256", "EdDSA"];
/** Same bound as the issuer's own verifier: hostile input is rejected before any parsing. */
const MAX_TOKEN_LENGTH = 4096;

/** Creates a verifier and starts its background JWKS load and revocation sync. */
export function createVerifier(options: VerifierOptions): Verifier {
  const o = resolveOptions(options);
  const { clock } = o;
  // The server's bounds replace the defaults the caller did not set.
  let maxStalenessMs = o.maxStalenessMs;
  let maxLifetimeSec = o.maxTokenLifetimeSec;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (everyMs: number) => {
    clearInterval(timer);
    timer = setInterval(() => {
      sync.maintain();
      jwks.maintain();
      claimsCache.prune(Math.floor(clock.now().getTime() / 1000));
    }, everyMs);
    timer.unref();
  };
  const onBounds = (b: ServerBounds) => {
    if (!o.lifetimeGiven && b.maxTokenLifetimeSec !== undefined) maxLifetimeSec = b.maxTokenLifetimeSec;
    if (o.stalenessGiven || b.maxStalenessSec === undefined || b.maxStalenessSec * 1000 === maxStalenessMs) return;
    maxStalenessMs = b.maxStalenessSec * 1000;
    if (!o.pollGiven && !closed) {
      sync.setPollInterval(pollIntervalFor(maxStalenessMs));
      schedule(pollIntervalFor(maxStalenessMs));
    }
  };

  const controller = new AbortController();
  const claimsCache = new ClaimsCache<VerifiedClaims>(o.maxCachedTokens);
  // A revoked key: refetch the JWKS now, so its successor is known and the key's cached tokens are dropped.
  const revocations = new RevocationSet(() => void jwks.refresh());
  let closed = false;
  let keysReady = false;
  let listReady = false;
  let publishedKids: ReadonlySet<string> = new Set();
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  readyPromise.catch(() => {}); // a verifier closed before anyone awaited ready() is no unhandled rejection
  const checkReady = () => {
    if (keysReady && listReady) resolveReady();
  };

  const jwks = new JwksCache({
    uri: o.jwksUri,
    fetch: o.fetch,
    clock,
    signal: controller.signal,
    requestTimeoutMs: o.requestTimeoutMs,
    cooldownMs: o.jwksCooldownMs,
    algorithms: ALGORITHMS,
    onError: o.onError,
    onLoad(kids) {
      // Tokens of a key that left the JWKS must be checked again, and fail.
      for (const kid of publishedKids) {
        if (!kids.has(kid)) {
          claimsCache.retainKids(kids);
          break;
        }
      }
      publishedKids = kids;
      keysReady = true;
      checkReady();
    },
  });
  const sync = new RevocationSync({
    uri: o.revocationsUri,
    authorization: basicAuthorization(o.clientId, o.clientSecret),
    fetch: o.fetch,
    clock,
    signal: controller.signal,
    set: revocations,
    pollIntervalMs: o.pollIntervalMs,
    requestTimeoutMs: o.requestTimeoutMs,
    streamIdleTimeoutMs: o.streamIdleTimeoutMs,
    reconnectDelayMs: o.reconnectDelayMs,
    onSync() {
      listReady = true;
      checkReady();
    },
    onBounds,
    onError: o.onError,
  });

  const jwtOptions: JWTVerifyOptions = {
    issuer: o.issuer,
    audience: o.audience,
    algorithms: ALGORITHMS,
    typ: "at+jwt", // RFC 9068 §2.1
    requiredClaims: ["sub", "sid", "jti", "iat", "exp", "trn"],
  };

  /**
   * jose's key resolver. jose has already parsed the header and refused any
   * algorithm outside the allow-list (so `none` and HMAC never get near a
   * key, RFC 8725 §3.1). Synchronous when the kid is cached: a first-seen
   * token then costs what jwtVerify with the key in hand costs.
   */
  const getKey = (header: JWTHeaderParameters): CryptoKey | Promise<CryptoKey> => {
    const kid = header.kid;
    if (typeof kid !== "string" || kid.length === 0 || kid.length > MAX_KID_LENGTH) {
      throw new TokenInvalidError("missing_kid", "the access token names no usable key");
    }
    // Keys come only from the issuer's JWKS, never from jku/jwk/x5u in the token (RFC 8725 §3.10).
    const found = jwks.lookup(kid);
    if (found !== undefined && found.alg === header.alg) return found.key;
    return jwks.resolve(kid).then((k) => {
      // The key fixes the algorithm; a token cannot pick another one for it.
      if (k.alg !== header.alg) throw new TokenInvalidError("alg_mismatch", "the access token's algorithm does not match its key");
      return k.key;
    });
  };

  async function verify(token: string, opts: { transport: TokenTransport }): Promise<VerifiedClaims> {
    const expected = opts?.transport === "header" ? "bearer" : opts?.transport === "cookie" ? "cookie" : null;
    if (expected === null) throw new TypeError('verify() needs { transport: "header" | "cookie" }');
    if (closed) throw new VerifierError("verifier_closed", "the verifier has been closed");
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      throw new TokenInvalidError("malformed", "the access token is malformed");
    }
    let nowMs = clock.now().getTime();
    // A repeated token skips the signature check; everything that can change still runs below.
    const cached = claimsCache.get(token, Math.floor(nowMs / 1000));
    let claims = cached?.claims;
    let kid = cached?.kid;
    if (claims === undefined) {
      let result;
      try {
        result = await jwtVerify(token, getKey, o.systemTime ? jwtOptions : { ...jwtOptions, currentDate: new Date(nowMs) });
      } catch (err) {
        if (err instanceof VerifierError) throw err;
        throw new TokenInvalidError(err instanceof errors.JOSEError ? err.code : "malformed", undefined, { cause: err });
      }
      const p = result.payload;
      if (
        typeof p.sub !== "string" ||
        typeof p.sid !== "string" ||
        typeof p.jti !== "string" ||
        typeof p.iat !== "number" ||
        typeof p.exp !== "number" ||
        (p.trn !== "bearer" && p.trn !== "cookie") ||
        (p.client_id !== undefined && typeof p.client_id !== "string") ||
        (p.auth_time !== undefined && typeof p.auth_time !== "number") ||
        (p.amr !== undefined && !(Array.isArray(p.amr) && p.amr.every((m) => typeof m === "string"))) ||
        (p.acr !== undefined && typeof p.acr !== "string")
      ) {
        throw new TokenInvalidError("bad_claims", "the access token's claims are malformed");
      }
      if (Array.isArray(p.aud)) Object.freeze(p.aud);
      if (Array.isArray(p.amr)) Object.freeze(p.amr);
      // A custom claim that happens to be named `claims` is found inside `claims`, like every other.
      const custom = Object.freeze(customClaimsOf(p) ?? {});
      claims = Object.freeze({ ...p, client_id: p.client_id ?? DEFAULT_CLIENT_ID, claims: custom }) as VerifiedClaims;
      kid = result.protectedHeader.kid!;
      claimsCache.set(token, { claims, kid });
      nowMs = clock.now().getTime();
    }
    // A token the issuer cannot have given: iat ahead of the clock, or a lifetime past the longest.
    const implausible = implausibleWindow(claims.iat, claims.exp, Math.floor(nowMs / 1000), maxLifetimeSec);
    if (implausible !== null) throw new TokenInvalidError(implausible);
    // SPEC §3 transport binding: bearer tokens only from the header, cookie tokens only from cookies.
    if (claims.trn !== expected) throw new TransportMismatchError();
    const lastSync = sync.lastSyncAt;
    if (lastSync === null || nowMs - lastSync > maxStalenessMs) {
      throw new RevocationListStaleError(lastSync === null ? null : new Date(lastSync));
    }
    const revokedBy = revocations.revokedBy(claims.sid, claims.sub, claims.iat, Math.floor(nowMs / 1000), kid);
    if (revokedBy !== null) throw new TokenRevokedError(revokedBy);
    return claims;
  }

  schedule(o.pollIntervalMs);
  const initialKeys = jwks.loadInitial();
  sync.start();

  let closing: Promise<void> | undefined;
  return {
    verify,
    ready: () => readyPromise,
    close() {
      closing ??= (async () => {
        closed = true;
        clearInterval(timer);
        controller.abort(new VerifierError("verifier_closed", "the verifier has been closed"));
        rejectReady(new VerifierError("verifier_closed", "the verifier was closed before it became ready"));
        await Promise.all([sync.stopped(), initialKeys]);
      })();
      return closing;
    },
    status() {
      const nowMs = clock.now().getTime();
      const lastSync = sync.lastSyncAt;
      return {
        keysLoaded: jwks.loaded,
        revocationsSyncedAt: lastSync === null ? null : new Date(lastSync),
        stale: lastSync === null || nowMs - lastSync > maxStalenessMs,
        stream: sync.streamState,
        revocationEntries: revocations.size,
        cachedTokens: claimsCache.size,
      };
    },
  };
}
