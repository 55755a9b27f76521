import { decodeProtectedHeader } from "jose";
import type { Clock } from "../domain/clock.js";
import { invalidToken } from "../domain/errors.js";
import type { AccessTokenClaims, AccessTokenVerifier } from "../domain/ports.js";
import type { KeyManager } from "./key-manager.js";

/**
 * Remembers the claims of tokens whose signature was verified, keyed by the
 * whole token string: the same bytes verify the same way, so a repeated
 * token (every introspection of a live session) skips the ES256 check. What
 * depends on time or on the key set is checked again on every hit: expiry,
 * and that the signing key is still published. Revocation is never cached
 * here; callers check it on every call.
 */
export function cacheVerifiedClaims(inner: AccessTokenVerifier, keys: KeyManager, clock: Clock, maxEntries = 50_000): AccessTokenVerifier {
  const cache = new Map<string, { claims: AccessTokenClaims; kid: string }>();
  return {
    async verify(token) {
      const hit = cache.get(token);
      if (hit) {
        const nowSec = clock.now().getTime() / 1000;
        if (hit.claims.exp > nowSec && keys.verificationKey(hit.kid)) return hit.claims;
        cache.delete(token);
        if (hit.claims.exp <= nowSec) throw invalidToken(undefined, "ERR_JWT_EXPIRED");
      }
      const claims = await inner.verify(token);
      const kid = decodeProtectedHeader(token).kid;
      if (typeof kid === "string") {
        // Oldest first out: a Map iterates in insertion order.
        if (cache.size >= maxEntries) cache.delete(cache.keys().next().value!);
        cache.set(token, { claims: Object.freeze({ ...claims }), kid });
      }
      return claims;
    },
  };
}
