import type { Clock } from "./clock.js";
import { invalidToken, transportMismatch } from "./errors.js";
import type { AccessTokenClaims, AccessTokenVerifier, SessionStore, UserStore } from "./ports.js";
import { sessionState } from "./session-policy.js";
import { transportOf, type PresentedVia, type SessionRecord } from "./types.js";

export interface Authenticated {
  claims: AccessTokenClaims;
  session: SessionRecord;
}

/**
 * Authenticates an access token for the service's own endpoints: signature
 * and claims, the transport it arrived on, and the session's state read from
 * Postgres (the source of truth), so a revoked session is refused at once.
 */
export class AccessAuthenticator {
  constructor(private readonly deps: { verifier: AccessTokenVerifier; sessions: SessionStore; users: UserStore; clock: Clock }) {}

  async authenticate(token: string, via: PresentedVia): Promise<Authenticated> {
    const claims = await this.deps.verifier.verify(token);
    if (claims.trn !== transportOf(via)) throw transportMismatch();
    const session = await this.deps.sessions.findSession(claims.sid);
    if (!session || session.userId !== claims.sub) throw invalidToken();
    if (sessionState(session, this.deps.clock.now()) !== "live") throw invalidToken();
    const user = await this.deps.users.findById(claims.sub);
    if (!user || user.disabled) throw invalidToken();
    if (user.notBefore && claims.iat < Math.ceil(user.notBefore.getTime() / 1000)) throw invalidToken();
    return { claims, session };
  }
}
