import { hashToken, looksLikeOpaqueToken } from "../crypto/opaque-token.js";
import { AppError } from "./errors.js";
import type { AccessTokenVerifier, SessionStore } from "./ports.js";
import type { RevocationService } from "./revocation-service.js";

/**
 * POST /revoke (RFC 7009): ends the session an access or refresh token
 * belongs to. Unknown, invalid or expired tokens are not an error
 * (RFC 7009 §2.2): the caller learns nothing about them.
 */
export class TokenRevocation {
  constructor(private readonly deps: { verifier: AccessTokenVerifier; sessions: SessionStore; revocations: RevocationService }) {}

  async revoke(token: string, clientId: string): Promise<void> {
    const sessionId = await this.sessionOf(token);
    if (sessionId === null) return;
    try {
      await this.deps.revocations.revokeSession(sessionId, "rfc7009", `client:${clientId}`);
    } catch (err) {
      if (err instanceof AppError && err.code === "not_found") return;
      throw err;
    }
  }

  private async sessionOf(token: string): Promise<string | null> {
    if (looksLikeOpaqueToken(token)) {
      // A rotated token still names its session (RFC 7009 §2.1: the whole grant goes).
      const record = await this.deps.sessions.findRefreshTokenByHash(hashToken(token));
      return record?.sessionId ?? null;
    }
    try {
      return (await this.deps.verifier.verify(token)).sid;
    } catch (err) {
      if (err instanceof AppError && err.code === "invalid_token") return null;
      throw err;
    }
  }
}
