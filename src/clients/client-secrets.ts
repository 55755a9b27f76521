import { hash, timingSafeEqual } from "node:crypto";
import { newOpaqueToken } from "../crypto/opaque-token.js";
import type { ClientSecretHasher } from "../domain/client-ports.js";
import type { PasswordHasher } from "../domain/ports.js";

const SHA256 = "sha256:";

// One-shot crypto.hash: no Hash object per call on the introspection path.
const sha256 = (secret: string): Buffer => hash("sha256", secret, "buffer");

/**
 * Client secret hashes, tagged by scheme:
 * - `sha256:<base64url>` for secrets we generate. They are 256 random bits
 *   (like refresh tokens), so a fast hash cannot be brute-forced from a
 *   leaked row, and verifying costs microseconds on the introspection path.
 * - argon2id (via the password hasher) for an operator-chosen
 *   ADMIN_CLIENT_SECRET, whose entropy we cannot vouch for.
 */
export function createClientSecretHasher(passwords: PasswordHasher): ClientSecretHasher {
  return {
    async hash(secret, origin) {
      return origin === "random" ? SHA256 + sha256(secret).toString("base64url") : passwords.hash(secret);
    },
    async verify(stored, secret) {
      if (stored.startsWith(SHA256)) {
        const expected = Buffer.from(stored.slice(SHA256.length), "base64url");
        // SPEC §6: constant-time comparison of secrets.
        return expected.length === 32 && timingSafeEqual(expected, sha256(secret));
      }
      if (stored.startsWith("$argon2")) return passwords.verify(stored, secret);
      return false;
    },
    fingerprint: sha256,
    same(a, b) {
      return a.length === b.length && timingSafeEqual(a, b);
    },
    generate: newOpaqueToken,
  };
}
