import type { StoredRevocation } from "../../domain/revocation-ports.js";
import { withTimeout } from "../../rate-limit/redis-support.js";
import type { SharedLookup } from "../../revocation/revocation-check.js";
import type { RedisBus } from "./redis-bus.js";
import type { RedisCommandClient } from "./redis-connection.js";

/**
 * The shared revocation list in Redis (SPEC §4). One key per entry:
 *   `${prefix}rev:sid:<session id>` → exp (epoch s) of the session's newest access token
 *   `${prefix}rev:snb:<session id>` → not_before (epoch s): the session's tokens with an earlier iat are revoked
 *   `${prefix}rev:sub:<user id>`    → not_before (epoch s): tokens with an earlier iat are revoked
 *   `${prefix}rev:kid:<key id>`     → exp (epoch s) of the last token the revoked signing key signed
 * each with a TTL of the entry's remaining lifetime, so the list stays small.
 * Every write is also announced on the events channel (channels.ts) for the
 * instances' mirrors. Each command touches one key, so none crosses Cluster
 * slots.
 */
export interface RedisRevocationStore extends SharedLookup {
  readonly channel: string;
  /**
   * SETs every entry (keeping the larger value and TTL), then announces the
   * batch; throws if Redis could not take all of it (the outbox keeps it).
   * `ack` asks every receiver to acknowledge the batch (revocation/ack-waiter.ts).
   */
  write(entries: readonly StoredRevocation[], now: Date, ack?: BatchAck): Promise<void>;
}

/** Who wants an acknowledgement of a batch, and by which tag. */
export interface BatchAck {
  to: string;
  tag: string;
}

/** The message on the channel: ids as decimal strings, instants in epoch ms. */
export interface RevocationMessage {
  entries: Array<{ id: string; kind: "sid" | "sub" | "kid"; subject: string; exp: number; nbf?: number }>;
  ack?: BatchAck;
}

// Merge rather than overwrite: an outbox replay may deliver an older entry
// after a newer one. Keeps the larger value and the longer remaining TTL.
const SET_MAX = `
local ttl = tonumber(ARGV[2])
local pttl = redis.call('PTTL', KEYS[1])
if pttl > ttl then ttl = pttl end
local v = tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '')
if cur and cur > v then v = cur end
redis.call('SET', KEYS[1], v, 'PX', ttl)
return 1`;

const ceilSec = (d: Date) => Math.ceil(d.getTime() / 1000);

const seconds = (v: string | null | undefined): number | null => {
  const n = v === null || v === undefined ? Number.NaN : Number(v);
  return Number.isFinite(n) ? n : null;
};

export interface RedisRevocationStoreOptions {
  redis: RedisCommandClient;
  bus: Pick<RedisBus, "publish">;
  channel: string;
  prefix: string;
  /** Bound on a look-up (introspection then asks Postgres). */
  lookupTimeoutMs: number;
  /** Bound on a batch write (the entries then stay in the outbox). */
  writeTimeoutMs: number;
}

export function createRedisRevocationStore(opts: RedisRevocationStoreOptions): RedisRevocationStore {
  const { redis, bus, channel, prefix } = opts;
  const key = (kind: "sid" | "snb" | "sub" | "kid", subject: string) => `${prefix}rev:${kind}:${subject}`;
  // A session's not_before entry has a key of its own: merged with a whole-session entry it would stop every token.
  const keyOf = (e: StoredRevocation) => (e.kind === "sid" && e.notBefore ? key("snb", e.subject) : key(e.kind, e.subject));
  return {
    channel,
    async write(entries, now, ack) {
      const live = entries.filter((e) => e.expiresAt > now);
      if (live.length === 0) return;
      // Keys first, announcement after: a receiver that looks a key up on
      // hearing of it finds it. Issued together, so auto-pipelining sends
      // each node its share in one write.
      const writes = live.map((e) => {
        const value = e.kind === "kid" || !e.notBefore ? ceilSec(e.expiresAt) : ceilSec(e.notBefore);
        return redis.eval(SET_MAX, 1, keyOf(e), value, e.expiresAt.getTime() - now.getTime());
      });
      const settled = await withTimeout(Promise.allSettled(writes), opts.writeTimeoutMs);
      const message: RevocationMessage = {
        entries: live.map((e) => ({
          id: e.id.toString(),
          kind: e.kind,
          subject: e.subject,
          exp: e.expiresAt.getTime(),
          ...(e.kind !== "kid" && e.notBefore ? { nbf: e.notBefore.getTime() } : {}),
        })),
        ...(ack ? { ack } : {}),
      };
      // Announced even when some keys failed (one Cluster master away): the
      // mirrors learn it now, and the outbox writes the missing keys later.
      await withTimeout(bus.publish(channel, JSON.stringify(message)), opts.writeTimeoutMs);
      const failed = settled.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    },
    async lookup(sid, sub) {
      // Separate GETs, not one MGET: on a Cluster the keys live in different slots.
      const [s, snb, u] = await withTimeout(
        Promise.all([redis.get(key("sid", sid)), redis.get(key("snb", sid)), redis.get(key("sub", sub))]),
        opts.lookupTimeoutMs,
      );
      return { sidRevoked: s !== null && s !== undefined, sidNotBeforeSec: seconds(snb), subNotBeforeSec: seconds(u) };
    },
  };
}

/**
 * A channel message's entries and, when its publisher waits for it, the
 * acknowledgement it asks for; anything malformed yields nothing.
 */
export function parseRevocationEnvelope(text: string): { entries: StoredRevocation[]; ack?: BatchAck } {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return { entries: [] };
  }
  const raw = (msg as Partial<RevocationMessage> | null)?.ack;
  const ack =
    raw && typeof raw.to === "string" && typeof raw.tag === "string" && raw.tag.length <= 128 ? { to: raw.to, tag: raw.tag } : undefined;
  return { entries: parseEntries((msg as Partial<RevocationMessage> | null)?.entries), ...(ack ? { ack } : {}) };
}

function parseEntries(list: unknown): StoredRevocation[] {
  if (!Array.isArray(list)) return [];
  const out: StoredRevocation[] = [];
  for (const e of (list as RevocationMessage["entries"]).slice(0, 10_000)) {
    if (!e || typeof e.id !== "string" || !/^\d{1,19}$/.test(e.id) || typeof e.subject !== "string" || typeof e.exp !== "number") continue;
    const expiresAt = new Date(e.exp);
    if (Number.isNaN(expiresAt.getTime())) continue;
    if (e.kind === "sid" && typeof e.nbf === "number")
      out.push({ id: BigInt(e.id), kind: "sid", subject: e.subject, notBefore: new Date(e.nbf), expiresAt });
    else if (e.kind === "sid" || e.kind === "kid") out.push({ id: BigInt(e.id), kind: e.kind, subject: e.subject, expiresAt });
    else if (e.kind === "sub" && typeof e.nbf === "number")
      out.push({ id: BigInt(e.id), kind: "sub", subject: e.subject, notBefore: new Date(e.nbf), expiresAt });
  }
  return out;
}
