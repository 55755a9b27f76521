import type { Clock } from "../domain/clock.js";
import { advanceCursor, SETTLE_MS } from "../domain/revocation-cursor.js";
import type { RevocationLog } from "../domain/revocation-ports.js";
import type { RevocationFeed } from "./revocation-feed.js";

const PAGE = 1000;
/** Bound on one poll's reading; the next poll goes on from where this one stopped. */
const MAX_PAGES = 50;

/**
 * Keeps the instance's mirror in step with Postgres: a full load at start,
 * then a poll for rows after the cursor (every ~1 s), which heals any
 * pub/sub message this instance missed.
 */
export class MirrorSync {
  constructor(private readonly deps: { feed: RevocationFeed; log: RevocationLog; clock: Clock; settleMs?: number }) {}

  /** Loads every live entry and sets the cursor. */
  async load(): Promise<void> {
    const { feed, log, clock } = this.deps;
    const now = clock.now();
    const base = await log.settledId(new Date(now.getTime() - (this.deps.settleMs ?? SETTLE_MS)));
    for (let after = 0n; ; ) {
      const page = await log.liveSince(now, after, PAGE);
      feed.learn(page, now.getTime());
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    await this.pollFrom(base > feed.cursor ? base : feed.cursor);
  }

  /** Learns the rows written since the cursor and moves it as far as is safe. */
  async poll(): Promise<void> {
    await this.pollFrom(this.deps.feed.cursor);
  }

  private async pollFrom(base: bigint): Promise<void> {
    const { feed, log, clock } = this.deps;
    const rows = [];
    for (let after = base, pages = 0; pages < MAX_PAGES; pages++) {
      const page = await log.rowsAfter(after, PAGE);
      rows.push(...page);
      if (page.length < PAGE) break;
      after = page[page.length - 1]!.id;
    }
    const now = clock.now();
    feed.learn(rows, now.getTime());
    feed.advance(advanceCursor(base, rows, now, this.deps.settleMs));
  }
}
