import { forbidden, notFound } from "./errors.js";
import type { UserStore } from "./ports.js";
import type { IssuedTokens, SessionService } from "./session-service.js";
import type { ClientContext, Transport } from "./types.js";

/**
 * POST /sessions (SPEC §5): an upstream identity service that already
 * authenticated the user asks for a session for them. The user must exist
 * here (404) and not be disabled (403); the audit names the client.
 */
export class DelegatedIssuer {
  constructor(private readonly deps: { users: UserStore; sessions: SessionService }) {}

  async issue(subject: string, transport: Transport, ctx: ClientContext, clientId: string): Promise<IssuedTokens> {
    const user = await this.deps.users.findById(subject);
    if (!user) throw notFound("no such user");
    if (user.disabled) throw forbidden("the user is disabled");
    return this.deps.sessions.issue(user.id, transport, ctx, { type: "session_issued", actor: `client:${clientId}` });
  }
}
