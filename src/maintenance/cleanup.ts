import { auditChainOf } from "../audit/audit-chain.js";
import type { Clock } from "../domain/clock.js";
import type { Database } from "../storage/database.js";

export interface CleanupPolicy {
  /** Ended sessions (expired or revoked) and spent refresh tokens are kept this long for the admin's history. */
  sessionRetentionMs: number;
  auditRetentionMs: number;
  /** Rows per DELETE: short statements, so no long table locks. */
  batchSize: number;
}

export interface CleanupReport {
  sessions: number;
  refreshTokens: number;
  revocations: number;
  auditEvents: number;
  webhookDeliveries: number;
}

type Deleter = (cutoff: Date, limit: number) => Promise<number>;

/**
 * Deletes what has outlived its use, in batches, under an advisory lock so
 * only one instance runs it at a time (SPEC §8). Returns null when another
 * instance holds the lock.
 */
export async function runCleanup(db: Database, clock: Clock, policy: CleanupPolicy): Promise<CleanupReport | null> {
  const p = db.prisma;
  // Each DELETE picks a bounded batch by an indexed column, then repeats.
  const sessionsByAbsolute: Deleter = (c, n) =>
    p.$executeRaw`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE absolute_expires_at < ${c} LIMIT ${n})`;
  const sessionsByIdle: Deleter = (c, n) =>
    p.$executeRaw`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE idle_expires_at < ${c} LIMIT ${n})`;
  const sessionsByRevoked: Deleter = (c, n) =>
    p.$executeRaw`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE revoked_at < ${c} LIMIT ${n})`;
  const refreshTokens: Deleter = (c, n) =>
    p.$executeRaw`DELETE FROM refresh_tokens WHERE id IN (SELECT id FROM refresh_tokens WHERE expires_at < ${c} LIMIT ${n})`;
  const webhookDeliveries: Deleter = (c, n) =>
    p.$executeRaw`DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries WHERE created_at < ${c} AND status <> 'pending' LIMIT ${n})`;
  const revocations: Deleter = (c, n) =>
    p.$executeRaw`DELETE FROM revocations WHERE id IN (SELECT id FROM revocations WHERE expires_at < ${c} AND published_at IS NOT NULL LIMIT ${n})`;

  const result = await db.withAdvisoryLock(
    "cleanup",
    async () => {
      const now = clock.now().getTime();
      const sessionCutoff = new Date(now - policy.sessionRetentionMs);
      const drain = async (del: Deleter, cutoff: Date) => {
        let total = 0;
        for (;;) {
          const n = await del(cutoff, policy.batchSize);
          total += n;
          if (n < policy.batchSize) return total;
        }
      };
      // Spent refresh tokens first: deleting sessions would cascade to them anyway.
      const spentTokens = await drain(refreshTokens, sessionCutoff);
      return {
        sessions:
          (await drain(sessionsByAbsolute, sessionCutoff)) +
          (await drain(sessionsByIdle, sessionCutoff)) +
          (await drain(sessionsByRevoked, sessionCutoff)),
        refreshTokens: spentTokens,
        // A revocation entry is useless once the tokens it stops have expired;
        // unpublished ones wait for the outbox so Redis learns of them first.
        revocations: await drain(revocations, new Date(now)),
        // A prefix of the hash chain only, anchored, so what remains verifies (SPEC §14).
        auditEvents: await auditChainOf(db).prune(new Date(now - policy.auditRetentionMs), policy.batchSize, new Date(now)),
        // Sent or given up: kept as long as the events they carried.
        webhookDeliveries: await drain(webhookDeliveries, new Date(now - policy.auditRetentionMs)),
      };
    },
    { wait: false },
  );
  return result.acquired ? result.value : null;
}
