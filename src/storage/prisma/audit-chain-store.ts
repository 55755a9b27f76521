import { Prisma, type PrismaClient } from "../../generated/prisma/client.js";
import type { AuditRow, ChainStart } from "../../domain/audit-chain.js";
import { CHAIN_ORIGIN } from "../../domain/audit-chain.js";

/** The chain's rows in Postgres. Writers other than the chainer never call it: they insert plain rows. */
export interface AuditChainStore {
  /** What retention deleted last, or the origin. */
  anchor(): Promise<ChainStart>;
  /** The last link: the newest chained row, else the anchor. */
  tail(): Promise<ChainStart>;
  /** Committed rows not yet linked, oldest id first. */
  unchained(limit: number): Promise<AuditRow[]>;
  /** Writes seq, prev_hash and hash of linked rows in one statement; throws unless every row was still unlinked. */
  link(rows: AuditRow[]): Promise<void>;
  /** Chained rows with seq above `afterSeq`, in seq order. */
  page(afterSeq: bigint, limit: number): Promise<AuditRow[]>;
  /** The first `limit` chained rows (seq, at, hash only), for retention. */
  oldest(limit: number): Promise<Array<Pick<AuditRow, "at"> & ChainStart>>;
  /** Deletes the chain up to `last` and makes it the anchor, in one transaction. */
  cutPrefix(last: ChainStart, now: Date): Promise<number>;
}

export function createPrismaAuditChainStore(prisma: PrismaClient): AuditChainStore {
  const anchor = async (): Promise<ChainStart> => {
    const a = await prisma.auditAnchor.findUnique({ where: { id: 1 } });
    return a ? { seq: a.seq, hash: a.hash } : CHAIN_ORIGIN;
  };
  return {
    anchor,
    async tail() {
      const last = await prisma.auditEvent.findFirst({
        where: { seq: { not: null } },
        orderBy: { seq: "desc" },
        select: { seq: true, hash: true },
      });
      return last ? { seq: last.seq!, hash: last.hash! } : anchor();
    },
    unchained(limit) {
      return prisma.auditEvent.findMany({ where: { seq: null }, orderBy: { id: "asc" }, take: limit });
    },
    async link(rows) {
      if (rows.length === 0) return;
      const values = Prisma.join(
        rows.map((r) => Prisma.sql`(${r.id}::bigint, ${r.seq}::bigint, ${r.prevHash}::varchar, ${r.hash}::varchar)`),
      );
      const n = await prisma.$executeRaw`
        UPDATE audit_events AS a SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash
        FROM (VALUES ${values}) AS v(id, seq, prev_hash, hash)
        WHERE a.id = v.id AND a.seq IS NULL`;
      if (n !== rows.length) throw new Error(`linked ${n} of ${rows.length} audit events: another chainer ran`);
    },
    page(afterSeq, limit) {
      return prisma.auditEvent.findMany({ where: { seq: { gt: afterSeq } }, orderBy: { seq: "asc" }, take: limit });
    },
    async oldest(limit) {
      const rows = await prisma.auditEvent.findMany({
        where: { seq: { not: null } },
        orderBy: { seq: "asc" },
        take: limit,
        select: { seq: true, hash: true, at: true },
      });
      return rows.map((r) => ({ seq: r.seq!, hash: r.hash!, at: r.at }));
    },
    async cutPrefix(last, now) {
      const [deleted] = await prisma.$transaction([
        prisma.auditEvent.deleteMany({ where: { seq: { lte: last.seq } } }),
        prisma.auditAnchor.upsert({
          where: { id: 1 },
          create: { id: 1, seq: last.seq, hash: last.hash, updatedAt: now },
          update: { seq: last.seq, hash: last.hash, updatedAt: now },
        }),
      ]);
      return deleted.count;
    },
  };
}
