import type { LeaseHolder, LeaseRegistry } from "../../revocation/ack-waiter.js";
import { withTimeout } from "../../rate-limit/redis-support.js";
import type { LeaseBus } from "../../revocation/mirror-lease.js";
import type { RevocationChannels } from "./channels.js";
import type { RedisBus } from "./redis-bus.js";
import type { RedisCommandClient } from "./redis-connection.js";

/**
 * The mirror-lease registry in Redis (revocation/mirror-lease.ts): a sorted
 * set of instance ids scored by lease end, on Redis' own clock (TIME inside
 * the scripts), so no two hosts' clocks are ever compared; and the instant the
 * registry was (re)created, so a revoker can tell when leases may have been
 * lost with a restart or flush. Hash tags keep both keys in one Cluster slot.
 *
 * Its channels (channels.ts) are on the instance's one subscription, so
 * that Redis' publish order holds across them and the revocation channel.
 */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('SET', KEYS[2], now, 'NX')`;

const RENEW = `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1`;

const READ = `${NOW}
local born = tonumber(redis.call('GET', KEYS[2]))
local out = { now - born }
local r = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
for i = 1, #r, 2 do
  out[#out + 1] = r[i]
  out[#out + 1] = tonumber(r[i + 1]) - now
end
return out`;

export interface RedisLeaseStore extends LeaseBus, LeaseRegistry {
  readonly fenceChannel: string;
  readonly ackChannel: string;
  /** Tells the publisher of a batch (`to`) that this instance has it in its mirror. */
  acknowledge(to: string, tag: string): Promise<void>;
}

export function createRedisLeaseStore(
  redis: RedisCommandClient,
  bus: Pick<RedisBus, "publish">,
  channels: RevocationChannels,
  prefix: string,
  selfId: string,
): RedisLeaseStore {
  const keys = [`${prefix}{mirror}:leases`, `${prefix}{mirror}:born`];
  const fenceChannel = channels.fence(selfId);
  return {
    fenceChannel,
    ackChannel: channels.ack(selfId),
    async renew(leaseMs) {
      await redis.eval(RENEW, 2, keys[0]!, keys[1]!, selfId, Math.ceil(leaseMs));
    },
    async fence(token) {
      await bus.publish(fenceChannel, token);
    },
    async release() {
      // Bounded: a shutdown must not wait on a master that is away (the lease then just runs out).
      await withTimeout(redis.zrem(keys[0]!, selfId), 1_000);
    },
    async leases() {
      const r = (await redis.eval(READ, 2, keys[0]!, keys[1]!)) as Array<string | number>;
      const holders: LeaseHolder[] = [];
      for (let i = 1; i + 1 < r.length; i += 2) holders.push({ id: String(r[i]), remainingMs: Number(r[i + 1]) });
      return { holders, registryAgeMs: Number(r[0]) };
    },
    async acknowledge(to, tag) {
      await bus.publish(channels.ack(to), `${tag} ${selfId}`);
    },
  };
}
