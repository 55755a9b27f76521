import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { randomBytesPooled } from "./random-pool.js";

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Derives a 256-bit AES key from a secret for one purpose (HKDF-SHA256, RFC 5869). */
export function deriveKey(secret: string | Uint8Array, purpose: string): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, "session-authority/v1", purpose, 32));
}

/**
 * AES-256-GCM: version byte ‖ IV ‖ ciphertext ‖ tag. `aad` binds the sealed
 * value to its context (e.g. a key id) so it cannot be moved elsewhere.
 */
export function seal(key: Uint8Array, plaintext: Uint8Array, aad = ""): Uint8Array {
  const iv = randomBytesPooled(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  cipher.setAAD(Buffer.from(aad, "utf8"));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.of(VERSION), iv, body, cipher.getAuthTag()]);
}

/** Opens a sealed value; throws if the key, the context or the bytes are wrong. */
export function unseal(key: Uint8Array, sealed: Uint8Array, aad = ""): Buffer {
  const buf = Buffer.from(sealed);
  if (buf.length < 1 + IV_BYTES + TAG_BYTES || buf[0] !== VERSION) throw new Error("sealed value is malformed");
  const iv = buf.subarray(1, 1 + IV_BYTES);
  const tag = buf.subarray(buf.length - TAG_BYTES);
  const decipher = createDecipheriv("aes-256-gcm", key, iv);
  decipher.setAAD(Buffer.from(aad, "utf8"));
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(buf.subarray(1 + IV_BYTES, buf.length - TAG_BYTES)), decipher.final()]);
}
