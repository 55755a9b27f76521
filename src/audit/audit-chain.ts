import { ChainWalker, linkAfter, type ChainBreak, type ChainStart } from "../domain/audit-chain.js";
import type { Database, LockResult } from "../storage/database.js";
import { createPrismaAuditChainStore, type AuditChainStore } from "../storage/prisma/audit-chain-store.js";

/** Runs `fn` under the deployment-wide chain lock (an advisory lock on Postgres). */
export type ChainLock = <T>(fn: () => Promise<T>, opts: { wait: boolean }) => Promise<LockResult<T>>;

export interface ChainReport {
  valid: boolean;
  /** Events checked before the first bad one (all of them when valid). */
  checked: number;
  /** Where the stored chain starts (after what retention deleted). */
  anchor: ChainStart;
  /** The last event that verified. */
  head: ChainStart;
  firstInvalid: ChainBreak | null;
}

const VERIFY_PAGE = 1000;

/**
 * One hash chain for the deployment (SPEC §14). Events are inserted unlinked
 * by whichever statement writes them; the chainer links committed rows in
 * batches under one lock, so the hot paths never wait on the chain and the
 * chain has a single writer at a time: it cannot fork, and seq has no gaps.
 */
export class AuditChain {
  constructor(private readonly deps: { store: AuditChainStore; lock: ChainLock; batchSize: number }) {}

  /**
   * Links every committed event. With `wait: false` (the background tick)
   * it returns null when another instance is linking. Readers wait, so they
   * serve every event committed before they were called.
   */
  async catchUp(opts: { wait: boolean } = { wait: true }): Promise<number | null> {
    const r = await this.deps.lock(() => this.#linkAll(), opts);
    return r.acquired ? r.value : null;
  }

  /** Only under the lock. */
  async #linkAll(): Promise<number> {
    const { store, batchSize } = this.deps;
    let linked = 0;
    let tail = await store.tail();
    for (;;) {
      const rows = linkAfter(tail, await store.unchained(batchSize));
      await store.link(rows);
      linked += rows.length;
      if (rows.length < batchSize) return linked;
      const last = rows.at(-1)!;
      tail = { seq: last.seq!, hash: last.hash! };
    }
  }

  /** Recomputes the stored chain from its anchor and names the first event that does not match. */
  async verify(): Promise<ChainReport> {
    await this.catchUp();
    for (let attempt = 0; ; attempt++) {
      const anchor = await this.deps.store.anchor();
      const walker = new ChainWalker(anchor);
      for (let after = anchor.seq; ; ) {
        const rows = await this.deps.store.page(after, VERIFY_PAGE);
        if (!walker.feed(rows) || rows.length < VERIFY_PAGE) break;
        after = rows.at(-1)!.seq!;
      }
      // Retention may have cut the prefix while we read: start again from the new anchor.
      if (walker.broken && attempt < 2 && (await this.deps.store.anchor()).seq !== anchor.seq) continue;
      return { valid: !walker.broken, checked: walker.checked, anchor, head: walker.head, firstInvalid: walker.broken };
    }
  }

  /**
   * Retention: deletes the chain's oldest events written before `cutoff`, a
   * prefix only, and keeps the last deleted one as the anchor the rest
   * verifies from (and links after, should nothing else remain). Under the
   * chain lock, so linking never reads a tail that is being deleted.
   */
  async prune(cutoff: Date, batchSize: number, now: Date): Promise<number> {
    const r = await this.deps.lock(
      async () => {
        await this.#linkAll(); // old events still unlinked are deleted too
        let deleted = 0;
        for (;;) {
          const oldest = await this.deps.store.oldest(batchSize);
          const firstKept = oldest.findIndex((e) => e.at >= cutoff);
          const cut = firstKept === -1 ? oldest : oldest.slice(0, firstKept);
          if (cut.length > 0) deleted += await this.deps.store.cutPrefix(cut.at(-1)!, now);
          if (cut.length < batchSize) return deleted;
        }
      },
      { wait: true },
    );
    return r.acquired ? r.value : 0;
  }
}

/** The chain of a database, locked by a Postgres advisory lock (a process lock in embedded mode). */
export function auditChainOf(db: Database, batchSize = 1000): AuditChain {
  return new AuditChain({
    store: createPrismaAuditChainStore(db.prisma),
    lock: (fn, opts) => db.withAdvisoryLock("audit-chain", fn, opts),
    batchSize,
  });
}
