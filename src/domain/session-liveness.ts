import type { Clock } from "./clock.js";
import type { SessionStore, UserStore } from "./ports.js";
import type { RevocationCheck } from "./revocation-ports.js";
import { sessionState } from "./session-policy.js";

/**
 * The revocation check against the source of truth (Postgres): the session
 * row, the user's "not before" and the session's (its list entry). Slow next to the mirror and Redis, so it
 * is the fallback when they cannot answer, and the only layer when no shared
 * store fans revocations out between instances.
 */
export function storeRevocationCheck(deps: { sessions: SessionStore; users: UserStore; clock: Clock }): RevocationCheck {
  return {
    async isRevoked({ sid, sub, iat }) {
      const session = await deps.sessions.findSession(sid);
      if (!session || session.userId !== sub || sessionState(session, deps.clock.now()) !== "live") return true;
      const user = await deps.users.findById(sub);
      if (!user || user.disabled) return true;
      if (user.notBefore !== null && iat < Math.ceil(user.notBefore.getTime() / 1000)) return true;
      const sessionNotBefore = await deps.sessions.sessionNotBefore(sid, deps.clock.now());
      return sessionNotBefore !== null && iat < Math.ceil(sessionNotBefore.getTime() / 1000);
    },
  };
}
