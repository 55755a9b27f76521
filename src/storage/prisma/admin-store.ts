import type { PrismaClient, Prisma } from "../../generated/prisma/client.js";
import type { AdminStore } from "../../domain/admin-ports.js";
import { toSession } from "./rows.js";

export function createPrismaAdminStore(prisma: PrismaClient): AdminStore {
  return {
    async searchUsers(q, limit, after, now) {
      const rows = await prisma.user.findMany({
        where: {
          ...(q ? { usernameKey: { contains: q } } : {}),
          ...(after ? { usernameKey: { ...(q ? { contains: q } : {}), gt: after } } : {}),
        },
        orderBy: { usernameKey: "asc" },
        take: limit,
        include: {
          _count: {
            select: { sessions: { where: { revokedAt: null, idleExpiresAt: { gt: now }, absoluteExpiresAt: { gt: now } } } },
          },
        },
      });
      return rows.map((u) => ({
        id: u.id,
        username: u.username,
        usernameKey: u.usernameKey,
        disabled: u.disabled,
        createdAt: u.createdAt,
        liveSessions: u._count.sessions,
      }));
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
