import type { PrismaClient } from "../../generated/prisma/client.js";
import { conflict } from "../../domain/errors.js";
import type { UserStore } from "../../domain/ports.js";
import { toUser } from "./rows.js";

export function createPrismaUserStore(prisma: PrismaClient): UserStore {
  return {
    async findByUsernameKey(usernameKey) {
      const u = await prisma.user.findUnique({ where: { usernameKey } });
      return u && toUser(u);
    },
    async findById(id) {
      const u = await prisma.user.findUnique({ where: { id } });
      return u && toUser(u);
    },
    async create({ id, username, usernameKey, passwordHash, now }) {
      try {
        const u = await prisma.user.create({ data: { id, username, usernameKey, passwordHash, createdAt: now, updatedAt: now } });
        return toUser(u);
      } catch (err) {
        if ((err as { code?: string }).code === "P2002") throw conflict("username is taken");
        throw err;
      }
    },
  };
}
