import { hashToken } from "../../crypto/opaque-token.js";
import type { PrismaClient } from "../../generated/prisma/client.js";

/** Which application a credential's session belongs to, read before the credential is used. */
export interface SessionApplicationReader {
  /** The client_id of the refresh token's session, or null for a token the service does not know. */
  ofRefreshToken(refreshToken: string): Promise<string | null>;
}

export function createSessionApplicationReader(prisma: PrismaClient): SessionApplicationReader {
  return {
    async ofRefreshToken(refreshToken) {
      const row = await prisma.refreshToken.findUnique({
        where: { tokenHash: new Uint8Array(hashToken(refreshToken)) },
        select: { session: { select: { clientId: true } } },
      });
      return row?.session.clientId ?? null;
    },
  };
}
