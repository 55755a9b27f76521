import type { Application as ApplicationRow, PrismaClient } from "../../generated/prisma/client.js";
import type { Application, ApplicationPolicy, PolicyOverrides } from "../../domain/applications.js";
import type { Transport } from "../../domain/types.js";

const ms = (v: bigint | null): number | null => (v === null ? null : Number(v));

export const toApplication = (r: ApplicationRow): Application => ({
  id: r.id,
  name: r.name,
  transports: r.transports.filter((t): t is Transport => t === "bearer" || t === "cookie"),
  origins: r.origins,
  policy: {
    accessTokenTtlMs: ms(r.accessTokenTtlMs),
    refreshTokenTtlMs: ms(r.refreshTokenTtlMs),
    sessionMaxLifetimeMs: ms(r.sessionMaxLifetimeMs),
    maxSessionsPerUser: r.maxSessionsPerUser,
    onLimit: r.onLimit as ApplicationPolicy["onLimit"] | null,
    refreshReuseGraceMs: ms(r.refreshReuseGraceMs),
    deviceChangePolicy: r.deviceChangePolicy as ApplicationPolicy["deviceChangePolicy"] | null,
  } satisfies PolicyOverrides,
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
});

/** The reads of applications (table applications); writes go with their effect on sessions. */
export interface ApplicationReader {
  list(): Promise<Application[]>;
  get(id: string): Promise<Application | null>;
}

export function createPrismaApplicationReader(prisma: PrismaClient): ApplicationReader {
  return {
    async list() {
      return (await prisma.application.findMany({ orderBy: { id: "asc" } })).map(toApplication);
    },
    async get(id) {
      const r = await prisma.application.findUnique({ where: { id } });
      return r && toApplication(r);
    },
  };
}
