import type { AuditRow } from "./audit-chain.js";
import type { SessionRecord } from "./types.js";

export interface UserSummary {
  id: string;
  username: string;
  /** The normalised login key: the search cursor. */
  usernameKey: string;
  disabled: boolean;
  createdAt: Date;
  liveSessions: number;
}

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

/** Read models and updates the admin API needs beyond the session store. */
export interface AdminStore {
  /** Users whose username contains `q` (case-insensitive), ordered by username, after `after`. */
  searchUsers(q: string | undefined, limit: number, after: string | undefined, now: Date): Promise<UserSummary[]>;
  setUserDisabled(userId: string, disabled: boolean, now: Date): Promise<boolean>;
  setUserPassword(userId: string, passwordHash: string, now: Date): Promise<boolean>;
  /** A user's sessions, newest first; ended ones only when asked. */
  userSessions(userId: string, now: Date, includeEnded: boolean, limit: number): Promise<SessionRecord[]>;
  refreshHistory(sessionId: string, limit: number): Promise<RefreshHistoryEntry[]>;
  queryAudit(q: AuditQuery): Promise<AuditRecord[]>;
}
