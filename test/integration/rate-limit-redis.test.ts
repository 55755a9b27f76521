// What only the Redis limiter promises: state shared by instances and keys
// that expire, on each Redis topology; and failing open when Redis is gone.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import t from "tap";
import { attemptKey } from "../../src/rate-limit/attempt-limiter.js";
import { createMemoryAttemptLimiter } from "../../src/rate-limit/memory-attempt-limiter.js";
import { createRedisAttemptLimiter } from "../../src/rate-limit/redis-attempt-limiter.js";
import { createRedisRequestCeiling } from "../../src/rate-limit/redis-request-ceiling.js";
import type { LimiterOperation } from "../../src/rate-limit/redis-support.js";
import { LuaScript, RedisTimeoutError } from "../../src/rate-limit/redis-support.js";
import { FakeClock, MINUTE, SECOND } from "../fixtures/clock.js";
import { listKeys, sharedRedis, TOPOLOGIES, topologyPrefix } from "../fixtures/redis-topologies.js";

const unexpected = (err: unknown) => t.fail(`redis error: ${String(err)}`);
const dead: Redis[] = [];
t.teardown(() => {
  for (const c of dead) c.disconnect();
});

const alice = attemptKey.loginUser("alice");
const ip = attemptKey.loginIp("198.51.100.4");

// Every target before the first test: tap ends the file once its tests have run.
for (const target of await Promise.all(TOPOLOGIES.map(sharedRedis))) {
  const { topology } = target;
  const prefix = topologyPrefix(t, target);
  const connect = () => target.client(t);
  const admin = connect();

  t.test(`failures recorded by one instance block the other (${topology})`, async (t) => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const keyPrefix = `${prefix}shared:`;
    const a = createRedisAttemptLimiter({ redis: connect(), clock, keyPrefix, onError: unexpected });
    const b = createRedisAttemptLimiter({ redis: connect(), clock, keyPrefix, onError: unexpected });
    for (let i = 0; i < 3; i++) await a.fail([alice, ip]);
    for (let i = 0; i < 3; i++) await b.fail([alice, ip]);
    await t.rejects(a.check([alice]), { code: "rate_limited", retryAfterSeconds: 1 }, "six failures across two instances");
    await t.rejects(b.check([alice]), { code: "rate_limited", retryAfterSeconds: 1 });
    await b.succeed([alice]);
    await t.resolves(a.check([alice, ip]), "a success through one instance clears the key for both");
  });

  t.test(`service-client ceilings share one bucket across instances (${topology})`, async (t) => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const options = { clock, keyPrefix: `${prefix}ceiling:`, policy: { burst: 2, perSecond: 1 }, onError: unexpected };
    const a = createRedisRequestCeiling({ ...options, redis: connect() });
    const b = createRedisRequestCeiling({ ...options, redis: connect() });
    await a.take("client:svc");
    await b.take("client:svc");
    await t.rejects(a.take("client:svc"), { code: "rate_limited", retryAfterSeconds: 1 });
  });

  t.test(`nothing accumulates: every key lives under the prefix and expires with its window (${topology})`, async (t) => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    const keyPrefix = `${prefix}ttl:`;
    const limiter = createRedisAttemptLimiter({ redis: admin, clock, keyPrefix, onError: unexpected });
    await limiter.fail([ip]);
    const pttl = await admin.pttl(`${keyPrefix}${ip}`);
    t.ok(pttl > 15 * MINUTE - 5 * SECOND && pttl <= 15 * MINUTE, `the key expires with the 15-minute window (pttl ${pttl})`);
    for (let i = 0; i < 6; i++) await limiter.fail([alice]);
    const blocked = await admin.pttl(`${keyPrefix}${alice}`);
    t.ok(blocked > 15 * MINUTE && blocked <= 15 * MINUTE + SECOND, "a blocked key lives for its block plus the window");
    t.same((await listKeys(admin, keyPrefix)).sort(), [`${keyPrefix}${alice}`, `${keyPrefix}${ip}`].sort());

    const ceiling = createRedisRequestCeiling({ redis: admin, clock, keyPrefix, policy: { burst: 10, perSecond: 2 }, onError: unexpected });
    await ceiling.take("client:svc");
    const bucket = await admin.pttl(`${keyPrefix}client:svc`);
    t.ok(bucket > 0 && bucket <= 500, "a bucket is forgotten once it would be full again");
  });

  t.test(`a script Redis has not cached is loaded on the NOSCRIPT answer (${topology})`, async (t) => {
    const script = new LuaScript(`-- ${randomBytes(8).toString("hex")}\nreturn redis.call("INCR", KEYS[1])`);
    t.equal(await script.run(admin, `${prefix}noscript`, []), 1, "first run: EVALSHA fails, EVAL loads it");
    t.equal(await script.run(admin, `${prefix}noscript`, []), 2, "second run: EVALSHA");
  });
}

function unreachable(options: { offlineQueue: boolean }): Redis {
  const r = new Redis({
    host: "127.0.0.1",
    port: 1, // nothing listens here
    lazyConnect: true,
    enableOfflineQueue: options.offlineQueue,
    retryStrategy: () => 50,
  });
  r.on("error", () => {});
  dead.push(r);
  return r;
}

t.test("with Redis unreachable, logins go through instead of failing with a 5xx", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const errors: LimiterOperation[] = [];
  const limiter = createRedisAttemptLimiter({
    redis: unreachable({ offlineQueue: false }),
    clock,
    onError: (_err, op) => errors.push(op),
  });
  for (let i = 0; i < 10; i++) t.same(await limiter.fail([alice]), { blocked: [], retryAfterSeconds: 0 });
  await t.resolves(limiter.check([alice]), "fails open");
  await t.resolves(limiter.succeed([alice]));
  t.equal(errors.filter((op) => op === "fail").length, 10, "every absorbed error is reported");
  t.ok(errors.includes("check") && errors.includes("succeed"));
});

t.test("a Redis that does not answer fails open after the command timeout", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const errors: unknown[] = [];
  const limiter = createRedisAttemptLimiter({
    redis: unreachable({ offlineQueue: true }), // ioredis queues commands while it reconnects
    clock,
    commandTimeoutMs: 50,
    onError: (err) => errors.push(err),
  });
  const started = performance.now();
  await t.resolves(limiter.check([alice]));
  t.ok(performance.now() - started < 1000, "bounded by the timeout, not by reconnection");
  t.type(errors[0], RedisTimeoutError);
});

t.test("with a fallback, an outage degrades to per-instance limits rather than none", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const limiter = createRedisAttemptLimiter({
    redis: unreachable({ offlineQueue: false }),
    clock,
    onError: () => {},
    fallback: createMemoryAttemptLimiter({ clock }),
  });
  for (let i = 0; i < 5; i++) await limiter.fail([alice]);
  t.same(await limiter.fail([alice]), { blocked: [alice], retryAfterSeconds: 1 });
  await t.rejects(limiter.check([alice]), { code: "rate_limited" });
  await limiter.succeed([alice]);
  await t.resolves(limiter.check([alice]));
});

t.test("the request ceiling fails open too", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const errors: LimiterOperation[] = [];
  const ceiling = createRedisRequestCeiling({
    redis: unreachable({ offlineQueue: false }),
    clock,
    policy: { burst: 1, perSecond: 1 },
    onError: (_err, op) => errors.push(op),
  });
  for (let i = 0; i < 3; i++) await t.resolves(ceiling.take("client:svc"));
  t.same(errors, ["take", "take", "take"]);
});
