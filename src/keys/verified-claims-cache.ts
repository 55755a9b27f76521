import { decodeProtectedHeader } from "jose";
import type { Clock } from "../domain/clock.js";
import { invalidToken } from "../domain/errors.js";
import type { AccessTokenClaims, AccessTokenVerifier } from "../domain/ports.js";
import type { KeyManager } from "./key-manager.js";

/**
 * How many characters at the end of a token index the cache. A Map hashes
 * its string key in full on every lookup, and each request's token is a
 * fresh string: hashing the last characters of the signature (random for
 * ECDSA, unique per payload for RSA and EdDSA) instead of ~500 characters
 * saves about a microsecond per introspection. The index only finds a
 * candidate: a hit counts only when the whole token is the one verified.
 */
const KEY_CHARS = 32;

interface Entry {
  token: string;
  claims: AccessTokenClaims;
  kid: string;
}

/**
 * Remembers the claims of tokens whose signature was verified, for exactly
 * that token string: the same bytes verify the same way, so a repeated
 * token (every introspection of a live session) skips the ES256 check. What
 * depends on time or on the key set is checked again on every hit: expiry,
 * and that the signing key is still published. Revocation is never cached
 * here; callers check it on every call.
 */
export function cacheVerifiedClaims(inner: AccessTokenVerifier, keys: KeyManager, clock: Clock, maxEntries = 50_000): AccessTokenVerifier {
  const cache = new Map<string, Entry>();
  return {
    async verify(token) {
      const key = token.slice(-KEY_CHARS);
      const hit = cache.get(key);
      // Another token with the same last characters is a miss (and replaces the entry once verified).
      if (hit && hit.token === token) {
        const nowSec = clock.now().getTime() / 1000;
        if (hit.claims.exp > nowSec && keys.verificationKey(hit.kid)) return hit.claims;
        cache.delete(key);
        if (hit.claims.exp <= nowSec) throw invalidToken(undefined, "ERR_JWT_EXPIRED");
      }
      const claims = await inner.verify(token);
      const kid = decodeProtectedHeader(token).kid;
      if (typeof kid === "string") {
        // Oldest first out: a Map iterates in insertion order.
        if (!cache.has(key) && cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
        cache.set(key, { token, claims: Object.freeze({ ...claims }), kid });
      }
      return claims;
    },
  };
}
