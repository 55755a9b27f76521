import type { AuditRow } from "./audit-chain.js";
import type { SessionRecord, UserRecord } from "./types.js";

/** What the admin API shows of a user: the record without its secrets, and its live sessions. */
export type UserSummary = Omit<UserRecord, "passwordHash" | "notBefore"> & { liveSessions: number };

export interface RefreshHistoryEntry {
  id: string;
  parentId: string | null;
  createdAt: Date;
  rotatedAt: Date | null;
  expiresAt: Date;
  ip: string | null;
  userAgent: string | null;
}

export interface AuditQuery {
  userId?: string;
  sessionId?: string;
  type?: string;
  from?: Date;
  to?: Date;
  /** Return events with a seq below this (newest first). */
  before?: bigint;
  limit: number;
}

/** An audit event with its chain links (SPEC §14). */
export type AuditRecord = AuditRow;

/** Where a page of users ends: its last user's username and id. */
export interface UserCursor {
  username: string;
  id: string;
}

/** Read models and updates the admin API needs beyond the session store. */
export interface AdminStore {
  /**
   * Users whose username (a local user's, lower-cased) or external subject
   * contains `q` (case-insensitive), ordered by username then id, after `after`.
   */
  searchUsers(q: string | undefined, limit: number, after: UserCursor | undefined, now: Date): Promise<UserSummary[]>;
  findUser(userId: string, now: Date): Promise<UserSummary | null>;
  setUserDisabled(userId: string, disabled: boolean, now: Date): Promise<boolean>;
  setUserPassword(userId: string, passwordHash: string, now: Date): Promise<boolean>;
  /** A user's sessions, newest first; ended ones only when asked. */
  userSessions(userId: string, now: Date, includeEnded: boolean, limit: number): Promise<SessionRecord[]>;
  refreshHistory(sessionId: string, limit: number): Promise<RefreshHistoryEntry[]>;
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
}
