import { customClaimsOf, REGISTERED_CLAIMS } from "../verifier/registered-claims.js";
import { invalidRequest } from "./errors.js";

/** A JSON object of custom claims (SPEC §11). */
export type Claims = Record<string, unknown>;

export { customClaimsOf, REGISTERED_CLAIMS };

/** The serialized union's limit in bytes (SPEC §11): tokens, headers and introspection answers stay small. */
export const MAX_CLAIMS_BYTES = 4096;

const isObject = (v: unknown): v is Claims => typeof v === "object" && v !== null && !Array.isArray(v);

/** UTF-8 bytes of the claims as JSON, the size a token and X-Auth-Claims carry. */
export const claimsBytes = (claims: Claims): number => Buffer.byteLength(JSON.stringify(claims), "utf8");

/**
 * Checks custom claims from a caller: a JSON object, no registered name,
 * within the size limit alone. `what` names them in the 400's description.
 */
export function validateClaims(claims: unknown, what: string): Claims {
  if (!isObject(claims)) throw invalidRequest(`${what} must be a JSON object`);
  const reserved = Object.keys(claims).filter((name) => REGISTERED_CLAIMS.has(name));
  if (reserved.length > 0) throw invalidRequest(`${what} may not set registered claim names: ${reserved.join(", ")}`);
  if (claimsBytes(claims) > MAX_CLAIMS_BYTES) throw invalidRequest(`${what} exceed ${MAX_CLAIMS_BYTES} bytes as JSON`);
  return claims;
}

/**
 * What a session's tokens carry: the user's claims, then the session's, the
 * session's winning a conflict (SPEC §11); null when there are none. Refused
 * when the union is over the limit, though each part is within it.
 */
export function mergeClaims(user: Claims | null, session: Claims | null): Claims | null {
  const union = { ...user, ...session };
  if (Object.keys(union).length === 0) return null;
  if (claimsBytes(union) > MAX_CLAIMS_BYTES) {
    throw invalidRequest(`the user's and the session's claims together exceed ${MAX_CLAIMS_BYTES} bytes as JSON`);
  }
  return union;
}

/** Names whose value differs between two claim sets (added, removed or changed), sorted: what the audit names. */
export function changedClaimNames(before: Claims, after: Claims): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...names].filter((n) => JSON.stringify(before[n]) !== JSON.stringify(after[n])).sort();
}
