import type { AccessTokenClaims } from "./ports.js";
import type { RevocationEntry } from "./types.js";

/** A committed revocation-list entry and its cursor: the revocations table's id. */
export type StoredRevocation = RevocationEntry & { id: bigint };

/**
 * Is an access token revoked? Implementations may layer an in-process
 * mirror, a shared cache and the database; they throw only when no layer
 * can answer, so callers fail closed.
 */
export interface RevocationCheck {
  isRevoked(token: Pick<AccessTokenClaims, "sid" | "sub" | "iat">): Promise<boolean>;
}

/** The revocations table read as a list with cursors (GET /revocations, the mirror's poll). */
export interface RevocationLog {
  /** Live entries (expiresAt > now) with id > afterId, oldest first. */
  liveSince(now: Date, afterId: bigint, limit: number): Promise<StoredRevocation[]>;
  /** Every row with id > afterId, live or not, with when it was written; oldest first. */
  rowsAfter(afterId: bigint, limit: number): Promise<Array<StoredRevocation & { createdAt: Date }>>;
  /** The highest id written at or before `at`, or 0. */
  settledId(at: Date): Promise<bigint>;
  /** The highest id ever handed out (the sequence's position), or 0: a larger cursor is unknown. */
  headId(): Promise<bigint>;
}
