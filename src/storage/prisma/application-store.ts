import type { Application as ApplicationRow, PrismaClient } from "../../generated/prisma/client.js";
import type { Application, ApplicationPolicy, PolicyOverrides } from "../../domain/applications.js";
import type { Transport } from "../../domain/types.js";

/** BIGINT: a bigint from Prisma, a string from node-postgres, a bigint or number from PGlite. */
type Big = string | number | bigint | null;
const ms = (v: Big): number | null => (v === null ? null : Number(v));

/** An applications row under the model's field names, however it was read. */
export type ApplicationFields = Omit<ApplicationRow, "transports" | "origins" | BigField> & {
  transports: string[] | null;
  origins: string[] | null;
} & { [K in BigField]: Big };
type BigField = "accessTokenTtlMs" | "refreshTokenTtlMs" | "sessionMaxLifetimeMs" | "refreshReuseGraceMs";

export const toApplication = (r: ApplicationFields): Application => ({
  id: r.id,
  name: r.name,
  transports: (r.transports ?? []).filter((t): t is Transport => t === "bearer" || t === "cookie"),
  origins: r.origins ?? [],
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
