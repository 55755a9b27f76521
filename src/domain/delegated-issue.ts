import { validateClaims } from "./claims.js";
import type { Clock } from "./clock.js";
import { forbidden, invalidRequest, notFound } from "./errors.js";
import type { IssueSubject } from "./ports.js";
import type { IssuedTokens, IssueRefusal, SessionService } from "./session-service.js";
import type { Authentication, ClientContext, Transport } from "./types.js";

/** 404 for an unknown subject, 403 for a disabled one: the caller is a trusted service, not a guesser. */
const refuseForClient: IssueRefusal = (user) =>
  !user ? notFound("no such user") : user.disabled ? forbidden("the user is disabled") : null;

/** How far ahead of our clock an upstream's `auth_time` may be: the skew a verifier allows `iat`. */
const AUTH_TIME_SKEW_MS = 30_000;

/** What an upstream identity service says about the user it authenticated (SPEC §5, §11). */
export interface DelegatedGrant {
  /** A local user's id, or the upstream's own stable id for the user: exactly one. */
  subject?: string;
  externalSubject?: string;
  applicationId: string;
  transport: Transport;
  /** Unix seconds; absent: now. */
  authTime?: number;
  amr?: string[];
  acr?: string;
  claims?: unknown;
}

/**
 * POST /sessions (SPEC §5, §11): an upstream identity service that already
 * authenticated the user asks for a session for them. A local user must
 * exist here (404) and not be disabled (403); an external subject is scoped
 * by the calling service client, and its first issuance creates the user.
 * The check runs on the user row the issuance locks anyway, so it costs no
 * separate read and cannot go stale before the session is written. The
 * audit names the client.
 */
export class DelegatedIssuer {
  constructor(private readonly deps: { sessions: SessionService; clock: Clock }) {}

  /** `serviceClientId` is the caller (the audit's actor, an external user's issuer); `applicationId` the application the session belongs to. */
  async issue(grant: DelegatedGrant, ctx: ClientContext, serviceClientId: string): Promise<IssuedTokens> {
    const subject = subjectOf(grant, serviceClientId, this.deps.clock.now());
    const sessionClaims = grant.claims === undefined ? null : validateClaims(grant.claims, "claims");
    return this.deps.sessions.issue(
      {
        subject,
        clientId: grant.applicationId,
        transport: grant.transport,
        authentication: this.authenticationOf(grant),
        sessionClaims: sessionClaims && Object.keys(sessionClaims).length > 0 ? sessionClaims : null,
      },
      ctx,
      { type: "session_issued", actor: `client:${serviceClientId}` },
      refuseForClient,
    );
  }

  private authenticationOf(grant: DelegatedGrant): Authentication {
    const now = this.deps.clock.now().getTime();
    if (grant.authTime !== undefined && grant.authTime * 1000 > now + AUTH_TIME_SKEW_MS) {
      throw invalidRequest("auth_time is in the future");
    }
    return {
      authTime: grant.authTime === undefined ? new Date(now) : new Date(grant.authTime * 1000),
      amr: [...new Set(grant.amr ?? [])],
      acr: grant.acr ?? null,
    };
  }
}

function subjectOf(grant: DelegatedGrant, serviceClientId: string, at: Date): IssueSubject {
  if ((grant.subject === undefined) === (grant.externalSubject === undefined)) {
    throw invalidRequest("name exactly one of subject and external_subject");
  }
  return grant.subject !== undefined ? { userId: grant.subject } : { issuer: serviceClientId, externalSubject: grant.externalSubject!, at };
}
