import { createHash } from "node:crypto";
import canonicalize from "canonicalize";

/** prev_hash of the first event of a chain (SPEC §14). */
export const GENESIS_HASH = "0".repeat(64);

/** An audit row as stored, chained or not yet. */
export interface AuditRow {
  id: bigint;
  at: Date;
  type: string;
  actor: string;
  userId: string | null;
  sessionId: string | null;
  ip: string | null;
  userAgent: string | null;
  detail: unknown;
  seq: bigint | null;
  prevHash: string | null;
  hash: string | null;
}

/** The event as GET /admin/audit serves it. The hash covers exactly this, minus `hash`. */
export function auditEventView(e: AuditRow) {
  return {
    id: e.id.toString(),
    seq: e.seq === null ? null : Number(e.seq),
    prev_hash: e.prevHash,
    hash: e.hash,
    at: e.at.toISOString(),
    type: e.type,
    actor: e.actor,
    user_id: e.userId,
    session_id: e.sessionId,
    ip: e.ip,
    user_agent: e.userAgent,
    detail: e.detail,
  };
}

/** SPEC §14: hex SHA-256 of prev_hash, "\n" and the RFC 8785 JSON of the served event without `hash`. */
export function eventHash(e: AuditRow): string {
  const { hash: _hash, ...hashed } = auditEventView(e);
  const json = canonicalize(hashed);
  if (json === undefined) throw new Error("an audit event has no canonical JSON");
  return createHash("sha256").update(`${e.prevHash}\n${json}`).digest("hex");
}

/** Where the stored chain starts: after what retention deleted, or at the beginning. */
export interface ChainStart {
  seq: bigint;
  hash: string;
}

export const CHAIN_ORIGIN: ChainStart = { seq: 0n, hash: GENESIS_HASH };

/** Links unchained rows, in the order given, after `tail`. Returns them with seq, prev_hash and hash set. */
export function linkAfter(tail: ChainStart, rows: AuditRow[]): AuditRow[] {
  let { seq, hash } = tail;
  return rows.map((r) => {
    seq += 1n;
    const linked = { ...r, seq, prevHash: hash };
    hash = eventHash(linked);
    return { ...linked, hash };
  });
}

export type ChainFault = "seq_gap" | "prev_hash_mismatch" | "hash_mismatch";

export interface ChainBreak {
  id: bigint;
  seq: bigint;
  reason: ChainFault;
  expectedSeq: bigint;
}

/**
 * Walks a chain page by page (rows in seq order), remembering where it is,
 * and stops at the first event that does not follow from the one before.
 */
export class ChainWalker {
  #next: ChainStart;
  #checked = 0;
  #broken: ChainBreak | null = null;

  constructor(start: ChainStart) {
    this.#next = start;
  }

  /** Checks the next rows; false once the chain broke (later rows are not looked at). */
  feed(rows: AuditRow[]): boolean {
    for (const r of rows) {
      if (this.#broken) return false;
      const expectedSeq = this.#next.seq + 1n;
      const reason: ChainFault | null =
        r.seq !== expectedSeq
          ? "seq_gap"
          : r.prevHash !== this.#next.hash
            ? "prev_hash_mismatch"
            : r.hash !== eventHash(r)
              ? "hash_mismatch"
              : null;
      if (reason) {
        this.#broken = { id: r.id, seq: r.seq ?? -1n, reason, expectedSeq };
        return false;
      }
      this.#next = { seq: r.seq!, hash: r.hash! };
      this.#checked++;
    }
    return true;
  }

  get checked(): number {
    return this.#checked;
  }
  get head(): ChainStart {
    return this.#next;
  }
  get broken(): ChainBreak | null {
    return this.#broken;
  }
}
