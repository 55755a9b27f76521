import type { PrismaClient, Prisma } from "../../generated/prisma/client.js";
import { asUnavailable } from "../unavailable.js";
import type { SessionStore, SessionTx } from "../../domain/ports.js";
import type { SessionRecord } from "../../domain/types.js";
import { auditData } from "./audit-log.js";
import { issueSessionInOneCall, lockUserRow } from "./issue-sql.js";
import { rotateDirect } from "./rotation-sql.js";
import { fromSession, toRefreshToken, toSession, truncate } from "./rows.js";
import { prismaTxQueryable, sqlDriverFor, type SqlDriver } from "../sql-driver.js";

type Tx = Prisma.TransactionClient;

const liveWhere = (userId: string, now: Date) => ({
  userId,
  revokedAt: null,
  idleExpiresAt: { gt: now },
  absoluteExpiresAt: { gt: now },
});

function sessionTx(tx: Tx): SessionTx {
  const raw = prismaTxQueryable(tx);
  return {
    lockUser: (userId) => lockUserRow(raw, userId),
    async lockSession(sessionId) {
      const rows = await tx.$queryRaw<Array<{ id: string }>>`SELECT id FROM sessions WHERE id = ${sessionId}::uuid FOR UPDATE`;
      if (rows.length === 0) return null;
      const s = await tx.session.findUnique({ where: { id: sessionId } });
      return s && toSession(s);
    },
    async listLiveSessions(userId, now) {
      const rows = await tx.session.findMany({ where: liveWhere(userId, now), orderBy: { createdAt: "asc" } });
      return rows.map(toSession);
    },
    async insertSession(session) {
      await tx.session.create({ data: fromSession(session) });
    },
    async updateSession(sessionId, patch) {
      const { device, ...rest } = patch;
      await tx.session.update({
        where: { id: sessionId },
        data: {
          ...rest,
          ...(rest.lastIp !== undefined ? { lastIp: truncate(rest.lastIp, 64) } : {}),
          ...(rest.userAgent !== undefined ? { userAgent: truncate(rest.userAgent, 512) } : {}),
          ...(device
            ? { uaBrowser: truncate(device.browser, 64), uaOs: truncate(device.os, 64), uaDevice: truncate(device.type, 32) }
            : {}),
        },
      });
    },
    async revokeSession(sessionId, at, reason, by) {
      const r = await tx.session.updateMany({
        where: { id: sessionId, revokedAt: null },
        data: { revokedAt: at, revokedReason: reason, revokedBy: by.slice(0, 128) },
      });
      return r.count === 1;
    },
    async revokeUserSessions(userId, at, reason, by, exceptSessionId) {
      const victims = await tx.session.findMany({
        where: { userId, revokedAt: null, ...(exceptSessionId ? { id: { not: exceptSessionId } } : {}) },
      });
      if (victims.length === 0) return [];
      await tx.session.updateMany({
        where: { id: { in: victims.map((v) => v.id) }, revokedAt: null },
        data: { revokedAt: at, revokedReason: reason, revokedBy: by.slice(0, 128) },
      });
      return victims.map(toSession);
    },
    async setUserNotBefore(userId, at) {
      await tx.user.update({ where: { id: userId }, data: { notBefore: at, updatedAt: at } });
    },
    async findRefreshTokenByHash(hash) {
      const r = await tx.refreshToken.findUnique({ where: { tokenHash: hash as Uint8Array<ArrayBuffer> } });
      return r && toRefreshToken(r);
    },
    async findRefreshTokenById(id) {
      const r = await tx.refreshToken.findUnique({ where: { id } });
      return r && toRefreshToken(r);
    },
    async insertRefreshToken(t) {
      await tx.refreshToken.create({
        data: {
          id: t.id,
          sessionId: t.sessionId,
          tokenHash: t.hash as Uint8Array<ArrayBuffer>,
          parentId: t.parentId,
          createdAt: t.createdAt,
          expiresAt: t.expiresAt,
          rotatedAt: t.rotatedAt,
          successorSealed: t.successorSealed as Uint8Array<ArrayBuffer> | null,
          ip: truncate(t.ip, 64),
          userAgent: truncate(t.userAgent, 512),
        },
      });
    },
    async markRotated(tokenId, at, successorSealed) {
      const r = await tx.refreshToken.updateMany({
        where: { id: tokenId, rotatedAt: null },
        data: { rotatedAt: at, successorSealed: successorSealed as Uint8Array<ArrayBuffer> },
      });
      return r.count === 1;
    },
    insertSessionUnderCap: async (input) => (await issueSessionInOneCall(raw, input)).inserted,
    async insertRevocations(entries, now) {
      const rows = await tx.revocation.createManyAndReturn({
        data: entries.map((e) => ({
          kind: e.kind,
          subject: e.subject,
          notBefore: e.kind === "sub" ? e.notBefore : null,
          expiresAt: e.expiresAt,
          createdAt: now,
        })),
        select: { id: true },
      });
      return rows.map((r) => r.id);
    },
    async audit(event, at) {
      await tx.auditEvent.create({ data: auditData(event, at) });
    },
  };
}

export interface TransactionOptions {
  /** How long to wait for a pooled connection before answering 503. */
  maxWaitMs: number;
  timeoutMs: number;
}

/**
 * SessionStore on Prisma: Postgres (adapter-pg) or embedded PGlite alike.
 * The refresh and issuance hot paths run their few statements on the
 * native driver under the client (`sql`, see sql-driver.ts); the rest on
 * Prisma.
 */
export function createPrismaSessionStore(
  prisma: PrismaClient,
  opts: TransactionOptions = { maxWaitMs: 5_000, timeoutMs: 10_000 },
  sql: SqlDriver = sqlDriverFor(prisma),
): SessionStore {
  return {
    transaction: (work) =>
      translated(() =>
        prisma.$transaction((tx) => work(sessionTx(tx)), {
          maxWait: opts.maxWaitMs,
          timeout: opts.timeoutMs,
          // READ COMMITTED, Postgres' default: the row locks give the ordering.
        }),
      ),
    rotateDirect: (write) => translated(() => rotateDirect(sql, write)),
    issueSession: (write) => translated(() => issueSessionInOneCall(sql, write)),
    async findSession(sessionId) {
      const s = await prisma.session.findUnique({ where: { id: sessionId } });
      return s && toSession(s);
    },
    async listLiveSessions(userId, now) {
      const rows = await prisma.session.findMany({ where: liveWhere(userId, now), orderBy: { createdAt: "desc" } });
      return rows.map(toSession) as SessionRecord[];
    },
    async findRefreshTokenByHash(hash) {
      const r = await prisma.refreshToken.findUnique({ where: { tokenHash: hash as Uint8Array<ArrayBuffer> } });
      return r && toRefreshToken(r);
    },
  };
}

/** Runs store work with its load errors turned into the domain's 503. */
async function translated<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw translate(err);
  }
}

/** Outage and load (pool exhaustion, transaction timeouts, a restarting server) are 503, not bugs. */
const translate = asUnavailable;
