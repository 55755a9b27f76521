/**
 * One error hierarchy for everything the service answers with. `code` is the
 * SPEC §5 OAuth-style code a client sees; `description` is public; `detail`
 * stays on the server (logged, never sent).
 */
export type ErrorCode =
  | "invalid_request"
  | "invalid_grant"
  | "invalid_client"
  | "invalid_token"
  | "transport_mismatch"
  | "rate_limited"
  | "forbidden"
  | "not_found"
  | "conflict"
  | "session_limit"
  | "unavailable"
  | "server_error";

export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly status: number,
    readonly description: string,
    readonly detail?: unknown,
  ) {
    super(description);
    this.name = "AppError";
  }
}

export const invalidRequest = (description: string, detail?: unknown) => new AppError("invalid_request", 400, description, detail);

export const invalidGrant = (description = "the grant is invalid, expired or revoked", detail?: unknown) =>
  new AppError("invalid_grant", 401, description, detail);

export const invalidToken = (description = "the access token is invalid, expired or revoked", detail?: unknown) =>
  new AppError("invalid_token", 401, description, detail);

export const invalidClient = (description = "client authentication failed") => new AppError("invalid_client", 401, description);

export const transportMismatch = (description = "the token was presented over a transport its session was not issued for") =>
  new AppError("transport_mismatch", 401, description);

export const forbidden = (description = "not allowed") => new AppError("forbidden", 403, description);

export const notFound = (description = "not found") => new AppError("not_found", 404, description);

export const conflict = (description: string) => new AppError("conflict", 409, description);

/** SPEC §3: the application's policy says `on_limit: "deny"` and the user is at its session limit. */
export const sessionLimit = (description = "the user has reached this application's session limit; end a session first") =>
  new AppError("session_limit", 403, description);

export class RateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super("rate_limited", 429, "too many attempts; retry later");
  }
}

export class UnavailableError extends AppError {
  constructor(
    description = "a backing service is unavailable; retry shortly",
    readonly retryAfterSeconds = 1,
    detail?: unknown,
  ) {
    super("unavailable", 503, description, detail);
  }
}
