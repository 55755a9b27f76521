import type { RefreshHistoryEntry, UserSummary } from "../../domain/admin-ports.js";
import { type Application, type ApplicationPolicy, policyToWire } from "../../domain/applications.js";
import { auditEventView } from "../../domain/audit-chain.js";
import type { SessionRecord } from "../../domain/types.js";
import { sessionView } from "./sessions.js";

/** JSON shapes of the admin API, in one place. */

export const userView = (u: UserSummary) => ({
  id: u.id,
  username: u.username,
  kind: u.kind,
  issuer: u.issuer,
  external_subject: u.externalSubject,
  claims: u.claims,
  disabled: u.disabled,
  created_at: u.createdAt.toISOString(),
  live_sessions: u.liveSessions,
});

/** The self-service view plus what only an operator sees: owner and revocation. */
export const adminSessionView = (s: SessionRecord) => {
  const { current: _current, ...view } = sessionView(s);
  return {
    ...view,
    user_id: s.userId,
    // SPEC §11: how the user authenticated, and the claims its tokens carry.
    auth_time: s.authentication.authTime.toISOString(),
    amr: s.authentication.amr,
    acr: s.authentication.acr,
    claims: s.claims ?? {},
    revoked_at: s.revokedAt?.toISOString() ?? null,
    revoked_reason: s.revokedReason,
    revoked_by: s.revokedBy,
  };
};

export const refreshView = (r: RefreshHistoryEntry) => ({
  id: r.id,
  parent_id: r.parentId,
  created_at: r.createdAt.toISOString(),
  rotated_at: r.rotatedAt?.toISOString() ?? null,
  expires_at: r.expiresAt.toISOString(),
  ip: r.ip,
  user_agent: r.userAgent,
});

/** SPEC §14: the served event is what its hash covers. */
export const auditView = auditEventView;

/** An application (SPEC §10): the policy fields it sets, and every field as its sessions follow it. */
export const applicationView = (a: Application, resolved: ApplicationPolicy) => ({
  id: a.id,
  name: a.name,
  transports: a.transports,
  origins: a.origins,
  policy: policyToWire(a.policy),
  effective_policy: policyToWire(resolved),
  created_at: a.createdAt.toISOString(),
  updated_at: a.updatedAt.toISOString(),
});
