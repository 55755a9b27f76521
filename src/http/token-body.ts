import type { IssuedTokens } from "../domain/session-service.js";

/**
 * The body of a login or refresh answer (SPEC §5): the tokens themselves for
 * bearer sessions; for cookie sessions only what a page may read, with the
 * CSRF value the cookies were set with.
 */
export function tokenBody(tokens: IssuedTokens, csrf?: string) {
  const evicted = tokens.evictedSessionIds.length > 0 ? { evicted_session_ids: tokens.evictedSessionIds } : {};
  if (tokens.transport === "cookie") {
    return { session_id: tokens.sessionId, expires_in: tokens.expiresIn, csrf_token: csrf, ...evicted };
  }
  return {
    access_token: tokens.accessToken,
    refresh_token: tokens.refreshToken,
    token_type: "Bearer" as const,
    expires_in: tokens.expiresIn,
    refresh_expires_in: tokens.refreshExpiresIn,
    session_id: tokens.sessionId,
    ...evicted,
  };
}
