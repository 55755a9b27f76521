import { forbidden, notFound } from "./errors.js";
import type { IssuedTokens, IssueRefusal, SessionService } from "./session-service.js";
import type { ClientContext, Transport } from "./types.js";

/** 404 for an unknown subject, 403 for a disabled one: the caller is a trusted service, not a guesser. */
const refuseForClient: IssueRefusal = (user) =>
  !user ? notFound("no such user") : user.disabled ? forbidden("the user is disabled") : null;

/**
 * POST /sessions (SPEC §5): an upstream identity service that already
 * authenticated the user asks for a session for them. The user must exist
 * here (404) and not be disabled (403); the audit names the client. The
 * check runs on the user row the issuance locks anyway, so it costs no
 * separate read and cannot go stale before the session is written.
 */
export class DelegatedIssuer {
  constructor(private readonly deps: { sessions: SessionService }) {}

  /** `serviceClientId` is the caller (the audit's actor); `applicationId` the application the session belongs to. */
  async issue(
    subject: string,
    applicationId: string,
    transport: Transport,
    ctx: ClientContext,
    serviceClientId: string,
  ): Promise<IssuedTokens> {
    return this.deps.sessions.issue(
      { userId: subject, clientId: applicationId, transport },
      ctx,
      { type: "session_issued", actor: `client:${serviceClientId}` },
      refuseForClient,
    );
  }
}
