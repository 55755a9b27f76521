import type { Application, ApplicationPolicy } from "./applications.js";
import type { RevokedSession, SessionTx } from "./ports.js";
import type { RevocationReason, Transport } from "./types.js";

/** A policy as a change applies it to an application's live sessions. */
export interface PolicyChangePlan {
  applicationId: string;
  /** The application's policy after the change, resolved against the service-wide defaults. */
  policy: ApplicationPolicy;
  /** The lifetimes copied onto its sessions: the application's own values, null for the service-wide ones. */
  accessTtlMs: number | null;
  idleTtlMs: number | null;
  /** The transports it allows now: a session of another one ends (SPEC §10: its sessions follow its settings). */
  transports: readonly Transport[];
  now: Date;
  /** Written as the revoking actor of the sessions it ends. */
  actor: string;
  /** Only the sessions of users in (after, upTo] (null: unbounded): one batch of a change. */
  users: UserRange;
}

/** A range of user ids: a user's sessions all fall in one range, so the per-user limit is judged whole. */
export interface UserRange {
  after: string | null;
  upTo: string | null;
}

/** What a policy change did (or, rolled back, would do) to the live sessions of its application. */
export interface PolicyEffect {
  /** Ended (reason `policy`): past the new idle or absolute expiry, of a transport no longer allowed, or beyond a user's limit; as their last write left them. */
  ended: RevokedSession[];
  /** Still live, but their current access token outlives the new limits: it and every earlier one must stop. */
  accessCut: Array<{ id: string; lastSeenAt: Date; accessExpiresAt: Date }>;
  /** Still live with an idle, absolute or access-token expiry now earlier than before. */
  sessionsShortened: number;
  /** Users with more live sessions of the application than the new limit. */
  usersOverLimit: number;
  /** Up to 20 affected session ids, ended ones first. */
  sample: string[];
}

/** The writes of an application's transaction, beside the session aggregate's own. */
export interface ApplicationTx extends SessionTx {
  /** The application's row, locked until commit; null when there is none. */
  lockApplication(id: string): Promise<Application | null>;
  /** False when the id is taken. */
  insertApplication(app: Application): Promise<boolean>;
  updateApplication(app: Application): Promise<void>;
  deleteApplication(id: string): Promise<void>;
  /**
   * Rewrites the lifetimes and expiries of every live session of the
   * application to `plan`, and marks revoked those it ends, set-based under
   * the sessions' row locks. The caller records the ended sessions' events
   * and entries (recordRevokedSessions).
   */
  applyPolicy(plan: PolicyChangePlan): Promise<PolicyEffect>;
  /** Marks every unrevoked session of the application revoked, returning each as its last committed write left it. */
  revokeApplicationSessions(id: string, at: Date, reason: RevocationReason, by: string): Promise<RevokedSession[]>;
}

/** Applications in storage (table applications) and the transactions that change them with their sessions. */
export interface ApplicationStore {
  list(): Promise<Application[]>;
  get(id: string): Promise<Application | null>;
  /**
   * Runs `work` in one transaction that holds the application's exclusive
   * lock (storage/applications/application-lock.ts) from its first
   * statement, so no session of it is issued meanwhile. With `commit`
   * false the transaction is rolled back whatever `work` did: a dry run.
   */
  withApplication<T>(id: string, commit: boolean, work: (tx: ApplicationTx) => Promise<T>): Promise<T>;
  /**
   * User ids that cut the application's unrevoked sessions into ranges of
   * about `perBatch` sessions, ascending (read without locks: the ranges
   * cover every user id whatever happens meanwhile).
   */
  userBoundaries(id: string, perBatch: number): Promise<string[]>;
}
