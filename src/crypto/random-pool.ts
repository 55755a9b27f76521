import { randomBytes, randomFillSync } from "node:crypto";

const POOL_BYTES = 4096;
/** Largest request served from the pool; bigger ones go to randomBytes directly. */
const MAX_POOLED = 256;

const pool = Buffer.allocUnsafeSlow(POOL_BYTES);
let offset = POOL_BYTES;

/**
 * `n` bytes from the CSPRNG, taken from a pool refilled 4 KiB at a time (as
 * Node itself does for randomUUID): one randomFillSync call per ~100 tokens
 * instead of one per token, on the refresh and login paths. Every byte is
 * handed out once, copied into a buffer of its own, and wiped from the pool.
 */
export function randomBytesPooled(n: number): Buffer {
  if (n > MAX_POOLED) return randomBytes(n);
  if (offset + n > POOL_BYTES) {
    randomFillSync(pool);
    offset = 0;
  }
  const out = Buffer.allocUnsafe(n);
  pool.copy(out, 0, offset, offset + n);
  pool.fill(0, offset, offset + n);
  offset += n;
  return out;
}
