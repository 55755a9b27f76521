import { createHash, hash, timingSafeEqual } from "node:crypto";
import { randomBytesPooled } from "./random-pool.js";

/** 32 random bytes (256 bits, SPEC §2) as base64url: 43 characters. */
export const newOpaqueToken = (): string => randomBytesPooled(32).toString("base64url");

/** Refresh tokens are stored only as this hash; their entropy makes a plain SHA-256 sufficient. */
export const hashToken = (token: string): Uint8Array => hash("sha256", token, "buffer");

/** Constant-time equality of two strings (SPEC §6). */
export function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/** Opaque tokens we issue are exactly base64url of 32 bytes; anything else is rejected before any lookup. */
export const looksLikeOpaqueToken = (token: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(token);
