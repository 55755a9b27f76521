import type { AdminStore, AuditQuery, UserCursor } from "./admin-ports.js";
import type { ClaimsService } from "./claims-service.js";
import type { Clock } from "./clock.js";
import { invalidRequest, notFound } from "./errors.js";
import type { AuditLog, PasswordHasher, SessionStore, UserStore } from "./ports.js";
import type { RevocationService } from "./revocation-service.js";
import { PASSWORD_MAX, PASSWORD_MIN } from "./user-service.js";

export interface AdminServiceDeps {
  admin: AdminStore;
  users: UserStore;
  sessions: SessionStore;
  revocations: RevocationService;
  claims: ClaimsService;
  passwords: PasswordHasher;
  audit: AuditLog;
  clock: Clock;
}

/** Operator actions on users and sessions (SPEC §5 admin API); every change is audited with its actor. */
export class AdminService {
  constructor(private readonly deps: AdminServiceDeps) {}

  searchUsers(q: string | undefined, limit: number, after?: UserCursor) {
    return this.deps.admin.searchUsers(q?.normalize("NFKC").toLowerCase(), limit, after, this.deps.clock.now());
  }

  async user(userId: string) {
    const user = await this.deps.admin.findUser(userId, this.deps.clock.now());
    if (!user) throw notFound("no such user");
    return user;
  }

  /**
   * PATCH /admin/users/:id. Disabling a user or setting a new password
   * revokes all the user's sessions (SPEC §5); new claims stop the user's
   * earlier tokens and keep the sessions (SPEC §11). Every field is checked
   * before anything changes, and the claims, which can still be refused on
   * a session's union, change first.
   */
  async patchUser(userId: string, patch: { disabled?: boolean; password?: string; claims?: unknown }, actor: string): Promise<void> {
    const { admin, users, revocations, passwords, audit, clock } = this.deps;
    const user = await users.findById(userId);
    if (!user) throw notFound("no such user");
    if (patch.password !== undefined && user.kind === "external") {
      throw invalidRequest("an external user has no password: it signs in at its identity service");
    }
    if (patch.password !== undefined && (patch.password.length < PASSWORD_MIN || patch.password.length > PASSWORD_MAX)) {
      throw invalidRequest(`password must be ${PASSWORD_MIN} to ${PASSWORD_MAX} characters`);
    }
    // Checked (and refusable on a session's union) inside, before anything else changes.
    if (patch.claims !== undefined) await this.deps.claims.setUserClaims(userId, patch.claims, actor);
    if (patch.disabled !== undefined) {
      await admin.setUserDisabled(userId, patch.disabled, clock.now());
      await audit.record({ type: patch.disabled ? "user_disabled" : "user_enabled", actor, userId }, clock.now());
      if (patch.disabled) await revocations.revokeUser(userId, "user_disabled", actor);
    }
    if (patch.password !== undefined) {
      await admin.setUserPassword(userId, await passwords.hash(patch.password), clock.now());
      await audit.record({ type: "password_changed", actor, userId }, clock.now());
      await revocations.revokeUser(userId, "password_change", actor);
    }
  }

  async userSessions(userId: string, includeEnded: boolean) {
    if (!(await this.deps.users.findById(userId))) throw notFound("no such user");
    return this.deps.admin.userSessions(userId, this.deps.clock.now(), includeEnded, 200);
  }

  /** One session with its refresh history (newest first). */
  async session(sessionId: string) {
    const session = await this.deps.sessions.findSession(sessionId);
    if (!session) throw notFound("no such session");
    return { session, refreshHistory: await this.deps.admin.refreshHistory(sessionId, 100) };
  }

  audit(q: AuditQuery) {
    if (q.from && q.to && q.from > q.to) throw invalidRequest("from must not be after to");
    return this.deps.admin.queryAudit(q);
  }
}
