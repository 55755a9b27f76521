import type { PrismaClient, Prisma, User } from "../../generated/prisma/client.js";
import type { AdminStore, UserSummary } from "../../domain/admin-ports.js";
import { toSession, toUser } from "./rows.js";

const liveSessionCount = (now: Date) => ({
  _count: { select: { sessions: { where: { revokedAt: null, idleExpiresAt: { gt: now }, absoluteExpiresAt: { gt: now } } } } },
});

const toSummary = (u: User & { _count: { sessions: number } }): UserSummary => {
  const { passwordHash: _hash, notBefore: _notBefore, ...user } = toUser(u);
  return { ...user, liveSessions: u._count.sessions };
};

export function createPrismaAdminStore(prisma: PrismaClient): AdminStore {
  return {
    async searchUsers(q, limit, after, now) {
      const rows = await prisma.user.findMany({
        where: {
          AND: [
            q ? { OR: [{ usernameKey: { contains: q } }, { externalSubject: { contains: q, mode: "insensitive" } }] } : {},
            after ? { OR: [{ username: { gt: after.username } }, { username: after.username, id: { gt: after.id } }] } : {},
          ],
        },
        orderBy: [{ username: "asc" }, { id: "asc" }],
        take: limit,
        include: liveSessionCount(now),
      });
      return rows.map(toSummary);
    },
    async findUser(userId, now) {
      const row = await prisma.user.findUnique({ where: { id: userId }, include: liveSessionCount(now) });
      return row ? toSummary(row) : null;
    },
    async setUserDisabled(userId, disabled, now) {
      const r = await prisma.user.updateMany({ where: { id: userId }, data: { disabled, updatedAt: now } });
      return r.count === 1;
    },
    async setUserPassword(userId, passwordHash, now) {
      const r = await prisma.user.updateMany({ where: { id: userId }, data: { passwordHash, updatedAt: now } });
      return r.count === 1;
    },
    async userSessions(userId, now, includeEnded, limit) {
      const rows = await prisma.session.findMany({
        where: includeEnded ? { userId } : { userId, revokedAt: null, idleExpiresAt: { gt: now }, absoluteExpiresAt: { gt: now } },
        orderBy: { createdAt: "desc" },
        take: limit,
      });
      return rows.map(toSession);
    },
    async refreshHistory(sessionId, limit) {
      const rows = await prisma.refreshToken.findMany({
        where: { sessionId },
        orderBy: { createdAt: "desc" },
        take: limit,
        select: { id: true, parentId: true, createdAt: true, rotatedAt: true, expiresAt: true, ip: true, userAgent: true },
      });
      return rows;
    },
    async queryAudit(q) {
      const where: Prisma.AuditEventWhereInput = {
        ...(q.userId ? { userId: q.userId } : {}),
        ...(q.sessionId ? { sessionId: q.sessionId } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.from || q.to ? { at: { ...(q.from ? { gte: q.from } : {}), ...(q.to ? { lte: q.to } : {}) } } : {}),
        // Linked events only, in chain order: what is served can be verified.
        seq: q.before !== undefined ? { lt: q.before } : { not: null },
      };
      return prisma.auditEvent.findMany({ where, orderBy: { seq: "desc" }, take: q.limit });
    },
  };
}
