import type { PrismaClient } from "../../generated/prisma/client.js";
import type { RevocationEntry } from "../../domain/types.js";

export type StoredRevocation = RevocationEntry & { id: bigint };

/** The revocations table read as the durable list and as the outbox to Redis. */
export function createRevocationOutbox(prisma: PrismaClient) {
  const toEntry = (r: { id: bigint; kind: string; subject: string; notBefore: Date | null; expiresAt: Date }): StoredRevocation =>
    r.kind === "sub"
      ? { id: r.id, kind: "sub", subject: r.subject, notBefore: r.notBefore ?? r.expiresAt, expiresAt: r.expiresAt }
      : { id: r.id, kind: "sid", subject: r.subject, expiresAt: r.expiresAt };
  return {
    async markPublished(ids: bigint[], at: Date): Promise<void> {
      if (ids.length === 0) return;
      await prisma.revocation.updateMany({ where: { id: { in: ids }, publishedAt: null }, data: { publishedAt: at } });
    },
    async unpublished(limit: number): Promise<StoredRevocation[]> {
      const rows = await prisma.revocation.findMany({ where: { publishedAt: null }, orderBy: { id: "asc" }, take: limit });
      return rows.map(toEntry);
    },
    /** Live entries after a cursor, oldest first. */
    async liveSince(now: Date, afterId: bigint, limit: number): Promise<StoredRevocation[]> {
      const rows = await prisma.revocation.findMany({
        where: { id: { gt: afterId }, expiresAt: { gt: now } },
        orderBy: { id: "asc" },
        take: limit,
      });
      return rows.map(toEntry);
    },
  };
}

export type RevocationOutbox = ReturnType<typeof createRevocationOutbox>;
