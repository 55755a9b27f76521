import type { StoredRevocation } from "../domain/revocation-ports.js";
import { RevocationList } from "./revocation-list.js";

/** Entries this instance just learned, and the cursor that covers everything it knows. */
export interface FeedBatch {
  entries: StoredRevocation[];
  cursor: bigint;
}

/**
 * The instance's mirror of the revocation list, with the cursor up to which
 * it is complete and a fan-out to listeners (the SSE streams). Entries arrive
 * from this instance's own revocations, from pub/sub and from the Postgres
 * poll, in any order and possibly twice; each is announced once.
 */
export class RevocationFeed {
  readonly list = new RevocationList();
  private cursorId = 0n;
  /** Ids above the cursor already learned (pub/sub can run ahead of the poll), with their expiry. */
  private readonly seen = new Map<bigint, number>();
  private readonly listeners = new Set<(batch: FeedBatch) => void>();

  /** Every id ≤ cursor is in the mirror (or expired); see domain/revocation-cursor.ts. */
  get cursor(): bigint {
    return this.cursorId;
  }

  /** Adds entries to the mirror; the new, still-live ones go to the listeners. */
  learn(entries: readonly StoredRevocation[], nowMs: number): void {
    const fresh: StoredRevocation[] = [];
    for (const e of entries) {
      if (e.id <= this.cursorId || this.seen.has(e.id)) continue;
      const expMs = e.expiresAt.getTime();
      this.seen.set(e.id, expMs);
      if (expMs > nowMs) fresh.push(e);
    }
    if (fresh.length === 0) return;
    this.list.add(fresh);
    this.emit({ entries: fresh, cursor: this.cursorId });
  }

  /** Moves the cursor forward (never back) once the poll proved completeness. */
  advance(cursor: bigint): void {
    if (cursor <= this.cursorId) return;
    this.cursorId = cursor;
    for (const id of this.seen.keys()) if (id <= cursor) this.seen.delete(id);
  }

  /** Calls `listener` for each batch learned from now on; returns the unsubscribe function. */
  subscribe(listener: (batch: FeedBatch) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Drops expired entries; an expired one learned again is ignored anyway. */
  prune(nowMs: number): void {
    this.list.prune(nowMs);
    for (const [id, expMs] of this.seen) if (expMs <= nowMs) this.seen.delete(id);
  }

  private emit(batch: FeedBatch): void {
    for (const l of this.listeners) {
      try {
        l(batch);
      } catch {
        // A failing listener (a broken stream) must not stop the others.
      }
    }
  }
}
