import { randomUUID } from "node:crypto";
import { errors, jwtVerify, type JWTHeaderParameters } from "jose";
import type { Clock } from "../domain/clock.js";
import { invalidToken } from "../domain/errors.js";
import type { AccessTokenClaims, AccessTokenSigner, AccessTokenVerifier } from "../domain/ports.js";
import { implausibleWindow } from "../verifier/token-window.js";
import { signCompactJws } from "./compact-jws.js";
import type { KeyManager } from "./key-manager.js";

/** Asymmetric algorithms only: never HS256 or `none` for tokens others verify (SPEC §2). */
export const ALLOWED_ALGORITHMS = ["ES256", "RS256", "EdDSA"];

/** Longest access token accepted, in characters (hostile-input bound). */
export const MAX_TOKEN_LENGTH = 4096;

export interface TokenSettings {
  issuer: string;
  audience: string[];
  /** The longest access-token lifetime the service gives (ACCESS_TOKEN_TTL), in seconds. */
  maxLifetimeSec: number;
}

export function createAccessTokenSigner(keys: KeyManager, settings: TokenSettings): AccessTokenSigner {
  const aud = settings.audience.length === 1 ? settings.audience[0]! : settings.audience;
  return {
    async sign({ sub, sid, trn, client_id, iat, exp, auth_time, amr, acr, claims }) {
      const key = await usableSigningKey(keys);
      // RFC 9068 access token (typ at+jwt, client_id required); iat and exp are NumericDates, whole seconds.
      // Custom claims first: none has a registered name (validateClaims), and those below would win anyway.
      const payload = {
        ...claims,
        sid,
        trn,
        client_id,
        iss: settings.issuer,
        sub,
        aud,
        iat: Math.floor(iat),
        exp: Math.floor(exp),
        jti: randomUUID(),
        ...(auth_time === undefined ? {} : { auth_time }),
        ...(amr === undefined ? {} : { amr }),
        ...(acr ? { acr } : {}),
      };
      return signCompactJws(key.alg, key.kid, key.privateKey, "at+jwt", payload);
    },
  };
}

/**
 * The signing key; when none is usable because another instance revoked it
 * (SPEC §14) before this one loaded the successor, loads it and tries again.
 */
async function usableSigningKey(keys: KeyManager) {
  try {
    return keys.signingKey();
  } catch {
    await keys.reload();
    return keys.signingKey();
  }
}

/**
 * Verifies our own access tokens: signature by a published key whose alg
 * matches the header, `typ: at+jwt`, iss, aud, exp/nbf against the injected
 * clock, and the claims the product relies on.
 */
export function createAccessTokenVerifier(
  keys: KeyManager,
  settings: TokenSettings,
  clock: Clock,
  onUnknownKid?: () => Promise<void>,
): AccessTokenVerifier {
  const resolve = async (header: JWTHeaderParameters) => {
    const kid = header.kid;
    if (typeof kid !== "string" || kid.length > 128) throw invalidToken("token has no usable kid");
    let found = keys.verificationKey(kid);
    if (!found && onUnknownKid) {
      await onUnknownKid();
      found = keys.verificationKey(kid);
    }
    if (!found) throw invalidToken("token is signed by an unknown key");
    if (found.alg !== header.alg) throw invalidToken("token algorithm does not match its key");
    return found.key;
  };
  return {
    async verify(token) {
      if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
        throw invalidToken("malformed token");
      }
      try {
        const { payload } = await jwtVerify(token, resolve, {
          issuer: settings.issuer,
          audience: settings.audience,
          algorithms: ALLOWED_ALGORITHMS,
          typ: "at+jwt",
          currentDate: clock.now(),
          requiredClaims: ["sub", "sid", "jti", "iat", "exp", "trn"],
        });
        // requiredClaims checks presence only; the rest of the product relies on the types.
        if (
          typeof payload.sub !== "string" ||
          typeof payload.sid !== "string" ||
          typeof payload.jti !== "string" ||
          (payload.trn !== "bearer" && payload.trn !== "cookie") ||
          (payload.client_id !== undefined && typeof payload.client_id !== "string") ||
          (payload.auth_time !== undefined && typeof payload.auth_time !== "number") ||
          (payload.amr !== undefined && !(Array.isArray(payload.amr) && payload.amr.every((m) => typeof m === "string"))) ||
          (payload.acr !== undefined && typeof payload.acr !== "string")
        ) {
          throw invalidToken("token claims are malformed");
        }
        const implausible = implausibleWindow(
          payload.iat!,
          payload.exp!,
          Math.floor(clock.now().getTime() / 1000),
          settings.maxLifetimeSec,
        );
        if (implausible) throw invalidToken(undefined, implausible);
        return payload as unknown as AccessTokenClaims;
      } catch (err) {
        if (err instanceof errors.JOSEError) throw invalidToken(undefined, err.code);
        throw err;
      }
    },
  };
}
