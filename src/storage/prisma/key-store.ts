import type { PrismaClient } from "../../generated/prisma/client.js";
import type { Algorithm } from "../../config.js";
import type { PublicJwk } from "../../keys/key-material.js";
import type { KeyStore } from "../../keys/key-store.js";

export function createPrismaKeyStore(prisma: PrismaClient, withLock: <T>(fn: () => Promise<T>) => Promise<T>): KeyStore {
  return {
    async list() {
      const rows = await prisma.signingKey.findMany({ orderBy: { activatesAt: "asc" } });
      return rows.map((r) => ({
        kid: r.kid,
        alg: r.alg as Algorithm,
        publicJwk: r.publicJwk as unknown as PublicJwk,
        privateKeySealed: r.privateKeySealed,
        createdAt: r.createdAt,
        activatesAt: r.activatesAt,
        retiredAt: r.retiredAt,
        expiresAt: r.expiresAt,
        revokedAt: r.revokedAt,
      }));
    },
    async insert(k) {
      await prisma.signingKey.create({
        data: {
          kid: k.kid,
          alg: k.alg,
          publicJwk: k.publicJwk as object,
          privateKeySealed: k.privateKeySealed as Uint8Array<ArrayBuffer>,
          createdAt: k.createdAt,
          activatesAt: k.activatesAt,
          retiredAt: k.retiredAt,
          expiresAt: k.expiresAt,
          revokedAt: k.revokedAt,
        },
      });
    },
    async retire(kid, retiredAt, expiresAt) {
      await prisma.signingKey.update({ where: { kid }, data: { retiredAt, expiresAt } });
    },
    async revoke(kid, at) {
      await prisma.signingKey.update({ where: { kid }, data: { revokedAt: at, retiredAt: at, expiresAt: at } });
    },
    withLock,
  };
}
