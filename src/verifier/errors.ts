/**
 * Stable error codes of the local verifier. Services map them to answers:
 * the first three are the caller's fault (401), the rest mean the verifier
 * cannot decide right now and fails closed (503).
 */
export type VerifierErrorCode =
  | "invalid_token"
  | "token_revoked"
  | "transport_mismatch"
  | "revocation_list_stale"
  | "keys_unavailable"
  | "verifier_closed";

/** Base class of every rejection `verify()` produces; switch on `code`. */
export class VerifierError extends Error {
  /** HTTP status a service would answer with: 401 for bad tokens, 503 when the verifier cannot decide. */
  readonly status: 401 | 503;

  constructor(
    readonly code: VerifierErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "VerifierError";
    this.status = code === "invalid_token" || code === "token_revoked" || code === "transport_mismatch" ? 401 : 503;
  }
}

/**
 * Signature, header or claims are wrong, the key is unknown, or the token has
 * expired. `reason` says which for logs (a jose error code such as
 * `ERR_JWT_EXPIRED`, or `unknown_kid`, `malformed`, `bad_claims`); never show
 * it to the token's bearer.
 */
export class TokenInvalidError extends VerifierError {
  constructor(
    readonly reason: string,
    message = "the access token is invalid or expired",
    options?: { cause?: unknown },
  ) {
    super("invalid_token", message, options);
    this.name = "TokenInvalidError";
  }
}

/** The token's session, or every token of its user issued before an instant, was revoked (SPEC §4). */
export class TokenRevokedError extends VerifierError {
  constructor(readonly revokedBy: "sid" | "sub" | "kid") {
    super("token_revoked", "the access token has been revoked");
    this.name = "TokenRevokedError";
  }
}

/** A cookie-session token came in a header or a bearer token in a cookie (SPEC §3, transport binding). */
export class TransportMismatchError extends VerifierError {
  constructor() {
    super("transport_mismatch", "the token was presented over a transport its session was not issued for");
    this.name = "TransportMismatchError";
  }
}

/** The revocation list has not been synced within `maxStalenessMs`: fail closed (SPEC §4). */
export class RevocationListStaleError extends VerifierError {
  constructor(readonly lastSyncAt: Date | null) {
    super("revocation_list_stale", "the revocation list is out of date; cannot decide");
    this.name = "RevocationListStaleError";
  }
}

/** No JWKS has been loaded yet, so no signature can be checked. */
export class KeysUnavailableError extends VerifierError {
  constructor(options?: { cause?: unknown }) {
    super("keys_unavailable", "the issuer's signing keys could not be loaded", options);
    this.name = "KeysUnavailableError";
  }
}
