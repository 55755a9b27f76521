/**
 * How far in the future a token's `iat` may lie: clock skew between the
 * issuer and a checker, plus the issuer's own rounding (an `iat` moved up
 * to the second after a user-wide revocation).
 */
export const IAT_SKEW_SECONDS = 30;

/**
 * Why a token's `iat`/`exp` cannot come from its issuer, or null when they
 * can: an `iat` in the future beyond the skew, or a lifetime longer than the
 * longest the issuer gives (a token minted with a stolen key, or by a bug,
 * must not live for years). Times in epoch seconds. One rule for the
 * service's own checks, introspection and the verifier.
 */
export function implausibleWindow(
  iat: number,
  exp: number,
  nowSec: number,
  maxLifetimeSec: number,
): "iat_in_future" | "lifetime_too_long" | null {
  if (iat > nowSec + IAT_SKEW_SECONDS) return "iat_in_future";
  if (exp - iat > maxLifetimeSec) return "lifetime_too_long";
  return null;
}
