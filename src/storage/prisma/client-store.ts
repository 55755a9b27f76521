import type { PrismaClient, ServiceClient } from "../../generated/prisma/client.js";
import { isClientScope, type ServiceClientRecord, type ServiceClientStore } from "../../domain/client-ports.js";
import { conflict } from "../../domain/errors.js";

const toClient = (r: ServiceClient): ServiceClientRecord => ({
  id: r.id,
  name: r.name,
  secretHash: r.secretHash,
  // A scope this version does not know grants nothing.
  scopes: r.scopes.filter(isClientScope),
  createdAt: r.createdAt,
  updatedAt: r.updatedAt,
  deletedAt: r.deletedAt,
});

/** Service clients on Prisma (table service_clients). */
export function createPrismaClientStore(prisma: PrismaClient): ServiceClientStore {
  return {
    async findLive(id) {
      const r = await prisma.serviceClient.findFirst({ where: { id, deletedAt: null } });
      return r && toClient(r);
    },
    async insert(c) {
      try {
        await prisma.serviceClient.create({ data: { ...c, name: c.name.slice(0, 128) } });
      } catch (err) {
        if ((err as { code?: string }).code === "P2002") throw conflict("client id is taken");
        throw err;
      }
    },
    async upsert(c) {
      const { id, ...rest } = { ...c, name: c.name.slice(0, 128) };
      await prisma.serviceClient.upsert({ where: { id }, create: { id, ...rest }, update: rest });
    },
    async update(id, patch) {
      const r = await prisma.serviceClient.updateMany({
        where: { id, deletedAt: null },
        data: { ...patch, ...(patch.name !== undefined ? { name: patch.name.slice(0, 128) } : {}) },
      });
      return r.count === 1;
    },
    async count() {
      return prisma.serviceClient.count();
    },
  };
}
