import { createHmac } from "node:crypto";
import { randomBytesPooled } from "../crypto/random-pool.js";

const PREFIX = "whsec_";

/** A Standard Webhooks secret: `whsec_` and the base64 of 32 random bytes (SPEC §14). */
export function newWebhookSecret(): string {
  return PREFIX + Buffer.from(randomBytesPooled(32)).toString("base64");
}

/**
 * The Standard Webhooks headers for one attempt: the HMAC-SHA256, keyed by
 * the secret's bytes, of `id.timestamp.body`, as `v1,<base64>`.
 */
export function signatureHeaders(secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  const key = Buffer.from(secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret, "base64");
  const mac = createHmac("sha256", key).update(`${id}.${timestampSeconds}.${body}`).digest("base64");
  return { "webhook-id": id, "webhook-timestamp": String(timestampSeconds), "webhook-signature": `v1,${mac}` };
}
