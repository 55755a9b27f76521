import { randomBytes } from "node:crypto";
import { exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from "jose";
import type { Algorithm } from "../config.js";
import { seal, unseal } from "../crypto/seal.js";

export interface PublicJwk extends JWK {
  kid: string;
  alg: Algorithm;
  use: "sig";
}

export interface GeneratedKey {
  kid: string;
  alg: Algorithm;
  publicJwk: PublicJwk;
  privateKeySealed: Uint8Array;
  privateKey: CryptoKey;
}

const GEN_OPTIONS: Record<Algorithm, Parameters<typeof generateKeyPair>[1]> = {
  ES256: { extractable: true },
  RS256: { extractable: true, modulusLength: 2048 },
  EdDSA: { extractable: true, crv: "Ed25519" },
};

/** Generates a signing key pair and seals its private half under `sealingKey`. */
export async function generateSigningKey(alg: Algorithm, sealingKey: Uint8Array): Promise<GeneratedKey> {
  const kid = randomBytes(12).toString("base64url");
  const { publicKey, privateKey } = await generateKeyPair(alg, GEN_OPTIONS[alg]);
  const pub = await exportJWK(publicKey);
  const priv = await exportJWK(privateKey);
  const publicJwk: PublicJwk = { ...pub, kid, alg, use: "sig" };
  // The kid is the additional data: a sealed key cannot be swapped onto another row.
  const privateKeySealed = seal(sealingKey, Buffer.from(JSON.stringify(priv), "utf8"), kid);
  return { kid, alg, publicJwk, privateKeySealed, privateKey: (await importJWK(priv, alg)) as CryptoKey };
}

/** Opens a sealed private key; throws when KEY_ENCRYPTION_KEY does not match. */
export async function openPrivateKey(kid: string, alg: Algorithm, sealed: Uint8Array, sealingKey: Uint8Array): Promise<CryptoKey> {
  const jwk = JSON.parse(unseal(sealingKey, sealed, kid).toString("utf8")) as JWK;
  return (await importJWK(jwk, alg)) as CryptoKey;
}

export async function importPublicKey(jwk: PublicJwk): Promise<CryptoKey> {
  return (await importJWK(jwk, jwk.alg)) as CryptoKey;
}
