import { hashToken } from "../crypto/opaque-token.js";
import { type Application, type ApplicationPolicy, resolvePolicy, sessionLifetimeColumns } from "./applications.js";
import { invalidClient, invalidRequest } from "./errors.js";
import type { NewSessionWrite } from "./ports.js";
import { initialExpiries } from "./session-policy.js";
import type { ClientContext, DeviceInfo, SessionRecord, Transport } from "./types.js";

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
  userId: string;
  transport: Transport;
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
 * (sessionLifetimeColumns) and its limit decides whether it is written.
 */
export function newSessionWrite(
  r: NewSessionRequest,
  application: Application,
  policy: ApplicationPolicy,
  now: Date,
  evicted: string[],
): NewSessionWrite {
  const session: SessionRecord = {
    id: crypto.randomUUID(),
    userId: r.userId,
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
      userId: r.userId,
      sessionId: session.id,
      ...r.ctx,
      detail: { transport: r.transport, evicted, client_id: application.id },
    },
    maxLive: policy.maxSessionsPerUser,
    now,
  };
}
