import type { PrismaClient } from "../../generated/prisma/client.js";
import type { RevocationLog, StoredRevocation } from "../../domain/revocation-ports.js";

export type { StoredRevocation } from "../../domain/revocation-ports.js";

type Row = { id: bigint; kind: string; subject: string; notBefore: Date | null; expiresAt: Date; createdAt: Date };

const toEntry = (r: Row): StoredRevocation =>
  r.kind === "sub"
    ? { id: r.id, kind: "sub", subject: r.subject, notBefore: r.notBefore ?? r.expiresAt, expiresAt: r.expiresAt }
    : r.kind === "kid"
      ? { id: r.id, kind: "kid", subject: r.subject, expiresAt: r.expiresAt }
      : { id: r.id, kind: "sid", subject: r.subject, expiresAt: r.expiresAt, ...(r.notBefore ? { notBefore: r.notBefore } : {}) };

/** The revocations table read as the durable list and as the outbox to Redis. */
export function createRevocationOutbox(prisma: PrismaClient) {
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
    /** Every row after a cursor, expired or not, with its write time (for gap-safe cursors). */
    async rowsAfter(afterId: bigint, limit: number): Promise<Array<StoredRevocation & { createdAt: Date }>> {
      const rows = await prisma.revocation.findMany({ where: { id: { gt: afterId } }, orderBy: { id: "asc" }, take: limit });
      return rows.map((r) => ({ ...toEntry(r), createdAt: r.createdAt }));
    },
    /** The newest id written at or before `at` (a backward walk of the primary key from the newest row). */
    async settledId(at: Date): Promise<bigint> {
      const row = await prisma.revocation.findFirst({ where: { createdAt: { lte: at } }, orderBy: { id: "desc" }, select: { id: true } });
      return row?.id ?? 0n;
    },
    async headId(): Promise<bigint> {
      // The sequence, not max(id): pruned rows must not make a cursor look unknown.
      const rows = await prisma.$queryRaw<
        Array<{ last_value: bigint; is_called: boolean }>
      >`SELECT last_value, is_called FROM revocations_id_seq`;
      const r = rows[0];
      return r?.is_called ? BigInt(r.last_value) : 0n;
    },
  } satisfies RevocationLog & Record<string, unknown>;
}

export type RevocationOutbox = ReturnType<typeof createRevocationOutbox>;
