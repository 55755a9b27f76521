import { hashToken } from "../crypto/opaque-token.js";
import { type Application, type ApplicationPolicy, resolvePolicy, sessionLifetimeColumns } from "./applications.js";
import { invalidClient, invalidRequest } from "./errors.js";
import type { NewSessionWrite } from "./ports.js";
import { initialExpiries } from "./session-policy.js";
import { type Claims, mergeClaims } from "./claims.js";
import type { Authentication, ClientContext, DeviceInfo, SessionRecord, Transport, UserRecord } from "./types.js";

/**
 * Why a session of `application` over `transport` may not exist, SPEC §10:
 * an unknown application is `invalid_client`, a transport it does not allow
 * `invalid_request`. Routes ask first, from the cache; the issuance asks
 * again on the row it read under its locks.
 */
export function assertApplicationAdmits(
  application: Pick<Application, "transports"> | null | undefined,
  transport: Transport,
): asserts application is Pick<Application, "transports"> {
  if (!application) throw invalidClient("unknown client_id: no such application");
  if (!application.transports.includes(transport)) {
    throw invalidRequest(`the application does not allow the ${transport} transport`);
  }
}

/**
 * The policy a new session of `application` follows, decided on the
 * application as read under the issuance's locks, so a concurrent policy
 * change is wholly before or wholly after it.
 */
export function admitApplication(application: Application | null, transport: Transport, defaults: ApplicationPolicy): ApplicationPolicy {
  assertApplicationAdmits(application, transport);
  return resolvePolicy(defaults, application.policy);
}

/** Everything about a new session that does not depend on when, or under which policy, it is written. */
export interface NewSessionRequest {
  transport: Transport;
  /** How the user authenticated (SPEC §11): `/login` says a password, now; an upstream says what it saw. */
  authentication: Authentication;
  /** The session's own claims, validated (validateClaims); they win over the user's. */
  sessionClaims: Claims | null;
  ctx: ClientContext;
  device: DeviceInfo;
  /** The opaque first refresh token; only its hash is written. */
  refreshToken: string;
  event: { type: string; actor: string };
}

/**
 * The session, its first refresh token and its audit event, under the
 * application's policy at `now`; `evicted` names the sessions it displaced.
 * The session carries the application's own lifetimes for its refreshes
 * (sessionLifetimeColumns) and its limit decides whether it is written, and
 * the union of the user's claims as read under the user's lock and its own.
 */
export function newSessionWrite(
  r: NewSessionRequest,
  user: Pick<UserRecord, "id" | "claims">,
  application: Application,
  policy: ApplicationPolicy,
  now: Date,
  evicted: string[],
): NewSessionWrite {
  const session: SessionRecord = {
    id: crypto.randomUUID(),
    userId: user.id,
    clientId: application.id,
    transport: r.transport,
    createdAt: now,
    lastSeenAt: now,
    ...initialExpiries(now, policy),
    createdIp: r.ctx.ip,
    lastIp: r.ctx.ip,
    userAgent: r.ctx.userAgent,
    device: r.device,
    deviceFlagged: false,
    deviceScore: 0,
    revokedAt: null,
    revokedReason: null,
    revokedBy: null,
    ...sessionLifetimeColumns(application.policy),
    authentication: r.authentication,
    sessionClaims: r.sessionClaims,
    claims: mergeClaims(user.claims, r.sessionClaims),
    tokensNotBefore: null,
  };
  return {
    session,
    refreshToken: {
      id: crypto.randomUUID(),
      hash: hashToken(r.refreshToken),
      sessionId: session.id,
      parentId: null,
      createdAt: now,
      expiresAt: session.idleExpiresAt,
      rotatedAt: null,
      successorSealed: null,
      ip: r.ctx.ip,
      userAgent: r.ctx.userAgent,
    },
    audit: {
      ...r.event,
      userId: user.id,
      sessionId: session.id,
      ...r.ctx,
      detail: { transport: r.transport, evicted, client_id: application.id },
    },
    maxLive: policy.maxSessionsPerUser,
    now,
  };
}
