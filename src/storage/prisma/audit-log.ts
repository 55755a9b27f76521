import type { PrismaClient } from "../../generated/prisma/client.js";
import type { AuditLog } from "../../domain/ports.js";
import type { AuditEventInput } from "../../domain/types.js";
import { truncate } from "../columns.js";

export const auditData = (e: AuditEventInput, at: Date) => ({
  at,
  type: e.type,
  actor: e.actor.slice(0, 128),
  userId: e.userId ?? null,
  sessionId: e.sessionId ?? null,
  ip: truncate(e.ip ?? null, 64),
  userAgent: truncate(e.userAgent ?? null, 512),
  detail: (e.detail ?? {}) as object,
});

/** Audit events outside a session transaction (failed logins, admin actions). */
export function createPrismaAuditLog(prisma: PrismaClient): AuditLog {
  return {
    async record(event, at) {
      await prisma.auditEvent.create({ data: auditData(event, at) });
    },
  };
}
