/**
 * Claim names SPEC §2 and RFC 7519/9068 register (SPEC §11): never custom
 * claims. The service refuses them as input and leaves them out of
 * X-Auth-Claims; the verifier leaves them out of `claims`.
 */
export const REGISTERED_CLAIMS: ReadonlySet<string> = new Set([
  "iss",
  "sub",
  "aud",
  "exp",
  "nbf",
  "iat",
  "jti",
  "sid",
  "trn",
  "client_id",
  "auth_time",
  "amr",
  "acr",
  "cnf",
  "scope",
]);

/** Whatever a token carries beyond the registered names, or null when nothing. */
export function customClaimsOf(payload: Record<string, unknown>): Record<string, unknown> | null {
  let custom: Record<string, unknown> | null = null;
  for (const [name, value] of Object.entries(payload)) {
    if (!REGISTERED_CLAIMS.has(name)) (custom ??= {})[name] = value;
  }
  return custom;
}
