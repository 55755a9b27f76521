// One suite every rate-limit implementation must pass: the in-process one and
// the Redis one on each topology (one server, a Sentinel group, a Cluster;
// a key prefix of its own, removed afterwards).
import t from "tap";
import type { Clock } from "../../src/domain/clock.js";
import { RateLimitedError } from "../../src/domain/errors.js";
import type { AttemptKey, AttemptLimiter } from "../../src/rate-limit/attempt-limiter.js";
import { attemptKey } from "../../src/rate-limit/attempt-limiter.js";
import type { BackoffOverrides } from "../../src/rate-limit/backoff-policy.js";
import { createMemoryAttemptLimiter } from "../../src/rate-limit/memory-attempt-limiter.js";
import { createMemoryRequestCeiling } from "../../src/rate-limit/memory-request-ceiling.js";
import { createRedisAttemptLimiter } from "../../src/rate-limit/redis-attempt-limiter.js";
import { createRedisRequestCeiling } from "../../src/rate-limit/redis-request-ceiling.js";
import type { CeilingPolicy, RequestCeiling } from "../../src/rate-limit/request-ceiling.js";
import { FakeClock, MINUTE, SECOND } from "../fixtures/clock.js";
import { sharedRedis, TOPOLOGIES, topologyPrefix } from "../fixtures/redis-topologies.js";

let instances = 0;
const unexpected = (err: unknown) => t.fail(`redis error: ${String(err)}`);

interface Backend {
  name: string;
  limiter(clock: Clock, policies?: BackoffOverrides): AttemptLimiter;
  ceiling(clock: Clock, policy: CeilingPolicy): RequestCeiling;
}

const backends: Backend[] = [
  {
    name: "in-process",
    limiter: (clock, policies) => createMemoryAttemptLimiter({ clock, policies }),
    ceiling: (clock, policy) => createMemoryRequestCeiling({ clock, policy }),
  },
];
for (const topology of TOPOLOGIES) {
  const target = await sharedRedis(topology);
  const redis = target.client(t);
  const prefix = topologyPrefix(t, target);
  backends.push({
    name: `redis (${topology})`,
    // A prefix per instance: each test starts from nothing.
    limiter: (clock, policies) =>
      createRedisAttemptLimiter({ redis, clock, policies, keyPrefix: `${prefix}${++instances}:`, onError: unexpected }),
    ceiling: (clock, policy) =>
      createRedisRequestCeiling({ redis, clock, policy, keyPrefix: `${prefix}${++instances}:`, onError: unexpected }),
  });
}

/** The Retry-After a check would answer with, 0 when it passes. */
async function waitOf(check: Promise<void>): Promise<number> {
  try {
    await check;
    return 0;
  } catch (err) {
    if (err instanceof RateLimitedError) return err.retryAfterSeconds;
    throw err;
  }
}

async function failTimes(limiter: AttemptLimiter, keys: AttemptKey[], n: number): Promise<void> {
  for (let i = 0; i < n; i++) await limiter.fail(keys);
}

const alice = attemptKey.loginUser("alice");
const bob = attemptKey.loginUser("bob");
const ip = attemptKey.loginIp("203.0.113.7");

for (const backend of backends) {
  t.test(`attempt limiter: ${backend.name}`, async (t) => {
    const fresh = (policies?: BackoffOverrides) => {
      const clock = new FakeClock(Date.UTC(2026, 0, 1));
      return { clock, limiter: backend.limiter(clock, policies) };
    };

    t.test("the first five failures on a username are free; the sixth blocks it", async (t) => {
      const { limiter } = fresh();
      for (let i = 1; i <= 5; i++) {
        t.same(await limiter.fail([alice]), { blocked: [], retryAfterSeconds: 0 }, `failure ${i} is free`);
        t.equal(await waitOf(limiter.check([alice])), 0);
      }
      t.same(await limiter.fail([alice]), { blocked: [alice], retryAfterSeconds: 1 });
      const err = await limiter.check([alice]).catch((e: unknown) => e);
      t.type(err, RateLimitedError);
      t.match(err, { code: "rate_limited", status: 429, retryAfterSeconds: 1 });
    });

    t.test("an address gets twenty free failures, whichever usernames they are for", async (t) => {
      const { limiter } = fresh();
      for (let i = 0; i < 20; i++) await limiter.fail([attemptKey.loginUser(`user${i}`), ip]);
      t.equal(await waitOf(limiter.check([ip])), 0);
      await limiter.fail([attemptKey.loginUser("user20"), ip]);
      t.equal(await waitOf(limiter.check([ip])), 1);
    });

    t.test("each further failure doubles the block: 1 s, 2 s, 4 s, 8 s, 16 s", async (t) => {
      const { clock, limiter } = fresh();
      await failTimes(limiter, [alice], 5);
      for (const seconds of [1, 2, 4, 8, 16]) {
        await limiter.fail([alice]);
        t.equal(await waitOf(limiter.check([alice])), seconds);
        clock.advance(seconds * SECOND);
        t.equal(await waitOf(limiter.check([alice])), 0, `usable again after ${seconds} s`);
      }
    });

    t.test("the block is capped (default 15 minutes)", async (t) => {
      const { limiter } = fresh();
      const outcomes = [];
      for (let i = 0; i < 40; i++) outcomes.push((await limiter.fail([alice])).retryAfterSeconds);
      t.equal(outcomes.at(-1), 15 * 60);
      t.equal(Math.max(...outcomes), 15 * 60);
      t.equal(await waitOf(limiter.check([alice])), 15 * 60);
    });

    t.test("a block ends at its time, not before", async (t) => {
      const { clock, limiter } = fresh();
      await failTimes(limiter, [alice], 7); // blocked for 2 s
      clock.advance(2 * SECOND - 1);
      t.equal(await waitOf(limiter.check([alice])), 1, "a fraction of a second still answers Retry-After: 1");
      clock.advance(1);
      t.equal(await waitOf(limiter.check([alice])), 0);
    });

    t.test("failures decay after the window with no new failure", async (t) => {
      const { clock, limiter } = fresh();
      await failTimes(limiter, [alice], 5);
      clock.advance(15 * MINUTE - 1);
      t.same(await limiter.fail([alice]), { blocked: [alice], retryAfterSeconds: 1 }, "within the window the count goes on");
      clock.advance(SECOND + 15 * MINUTE);
      t.same(await limiter.fail([alice]), { blocked: [], retryAfterSeconds: 0 }, "after it, the count starts over");
    });

    t.test("waiting out a block longer than the window does not wipe the count", async (t) => {
      const { clock, limiter } = fresh({ "login:user": { windowMs: 10 * SECOND } });
      await failTimes(limiter, [alice], 10); // fifth block: 16 s, longer than the window
      clock.advance(16 * SECOND);
      t.equal(await waitOf(limiter.check([alice])), 0);
      t.equal((await limiter.fail([alice])).retryAfterSeconds, 32, "the next failure escalates");
    });

    t.test("thresholds come from the options", async (t) => {
      const { limiter } = fresh({ "login:user": { freeFailures: 1, baseBlockMs: 5 * SECOND, maxBlockMs: 12 * SECOND } });
      t.equal((await limiter.fail([alice])).retryAfterSeconds, 0);
      t.equal((await limiter.fail([alice])).retryAfterSeconds, 5);
      t.equal((await limiter.fail([alice])).retryAfterSeconds, 10);
      t.equal((await limiter.fail([alice])).retryAfterSeconds, 12);
    });

    t.test("a good login resets the username key; the address keeps counting", async (t) => {
      const { limiter } = fresh();
      await failTimes(limiter, [alice, ip], 6);
      t.equal(await waitOf(limiter.check([alice])), 1);
      await limiter.succeed([alice]);
      t.equal(await waitOf(limiter.check([alice])), 0, "the username is free again");
      await failTimes(limiter, [alice, ip], 5);
      t.equal(await waitOf(limiter.check([alice])), 0, "with five fresh free failures");
      await failTimes(limiter, [ip], 9);
      t.equal(await waitOf(limiter.check([ip])), 0, "the address has had 20 failures");
      await limiter.fail([ip]);
      t.equal(await waitOf(limiter.check([ip])), 1, "and blocks at its 21st");
    });

    t.test("keys are independent; a check of several reports the longest wait", async (t) => {
      const { limiter } = fresh();
      await failTimes(limiter, [alice], 8); // 4 s
      await failTimes(limiter, [attemptKey.refreshIp("203.0.113.7")], 21); // 1 s
      t.equal(await waitOf(limiter.check([bob, ip])), 0, "another username and the login address are untouched");
      t.equal(await waitOf(limiter.check([attemptKey.client("alice", "203.0.113.7"), attemptKey.clientIp("203.0.113.7")])), 0);
      t.equal(await waitOf(limiter.check([bob, attemptKey.refreshIp("203.0.113.7")])), 1);
      t.equal(await waitOf(limiter.check([attemptKey.refreshIp("203.0.113.7"), alice, bob])), 4);
      t.equal(await waitOf(limiter.check([])), 0, "no keys, nothing to block");
    });

    t.test("subjects may contain the separator (IPv6, odd usernames)", async (t) => {
      const { limiter } = fresh();
      const v6 = attemptKey.clientIp("2001:db8::1");
      await failTimes(limiter, [v6], 21);
      t.equal(await waitOf(limiter.check([v6])), 1, "the client-ip policy applied: 20 free");
      t.equal(await waitOf(limiter.check([attemptKey.clientIp("2001:db8::2")])), 0);
    });

    t.test("the same key twice in one call counts once", async (t) => {
      const { limiter } = fresh();
      await failTimes(limiter, [alice, alice], 5);
      t.equal(await waitOf(limiter.check([alice])), 0);
    });

    t.test("a key outside the known families is a bug, refused loudly", async (t) => {
      const { limiter } = fresh();
      await t.rejects(limiter.fail(["login:alice" as AttemptKey]), TypeError);
    });

    t.test("a gated key blocks only callers whose gate has failures: strangers cannot lock out a clean address", async (t) => {
      const { limiter, clock } = fresh();
      const pairOf = (addr: string) => attemptKey.loginUserIp("alice", addr);
      // Eight addresses fail once each on alice: her account key is blocked.
      for (let i = 0; i < 8; i++) await limiter.fail([pairOf(`198.51.100.${i}`), alice]);
      const gatedCheck = (addr: string) => limiter.check([pairOf(addr)], [{ key: alice, gate: pairOf(addr) }]);
      t.ok((await waitOf(gatedCheck("198.51.100.0"))) > 0, "an address that failed on alice waits for the account's block");
      t.equal(await waitOf(gatedCheck("203.0.113.9")), 0, "an address that never failed on alice is not blocked by it");
      t.equal(await waitOf(limiter.check([alice])), 4, "the account key itself is blocked (8 failures: 4 s)");
      clock.advance(5 * SECOND);
      t.equal(await waitOf(gatedCheck("198.51.100.0")), 0, "the block ends at its time for the addresses it applies to");
    });

    t.test("a success on a key with no failures is harmless", async (t) => {
      const { limiter } = fresh();
      await limiter.succeed([alice, ip]);
      t.equal(await waitOf(limiter.check([alice, ip])), 0);
    });
  });

  t.test(`request ceiling: ${backend.name}`, async (t) => {
    const fresh = (policy: CeilingPolicy) => {
      const clock = new FakeClock(Date.UTC(2026, 0, 1));
      return { clock, ceiling: backend.ceiling(clock, policy) };
    };

    t.test("a burst passes, the next request waits for the refill", async (t) => {
      const { clock, ceiling } = fresh({ burst: 3, perSecond: 1 });
      for (let i = 0; i < 3; i++) t.equal(await waitOf(ceiling.take("client:a")), 0);
      const err = await ceiling.take("client:a").catch((e: unknown) => e);
      t.match(err, { code: "rate_limited", retryAfterSeconds: 1 });
      clock.advance(SECOND);
      t.equal(await waitOf(ceiling.take("client:a")), 0, "one token back after a second");
      t.equal(await waitOf(ceiling.take("client:a")), 1);
      clock.advance(MINUTE);
      for (let i = 0; i < 3; i++) t.equal(await waitOf(ceiling.take("client:a")), 0, "full again, but no fuller than the burst");
      t.equal(await waitOf(ceiling.take("client:a")), 1);
    });

    t.test("refused requests do not spend tokens", async (t) => {
      const { clock, ceiling } = fresh({ burst: 1, perSecond: 1 });
      await ceiling.take("client:a");
      for (let i = 0; i < 5; i++) t.equal(await waitOf(ceiling.take("client:a")), 1);
      clock.advance(SECOND);
      t.equal(await waitOf(ceiling.take("client:a")), 0);
    });

    t.test("a slow refill answers the time to the next token", async (t) => {
      const { clock, ceiling } = fresh({ burst: 1, perSecond: 0.25 });
      await ceiling.take("client:a");
      t.equal(await waitOf(ceiling.take("client:a")), 4);
      clock.advance(2500);
      t.equal(await waitOf(ceiling.take("client:a")), 2);
    });

    t.test("keys are independent", async (t) => {
      const { ceiling } = fresh({ burst: 1, perSecond: 1 });
      await ceiling.take("client:a");
      t.equal(await waitOf(ceiling.take("client:a")), 1);
      t.equal(await waitOf(ceiling.take("client:b")), 0);
    });
  });
}

t.test("the Lua scripts and the TypeScript rules agree on a random history", async (t) => {
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const policies: BackoffOverrides = { "login:user": { freeFailures: 2, windowMs: 10 * SECOND, baseBlockMs: 700, maxBlockMs: 6 * SECOND } };
  const keys = [alice, bob, ip];
  const runs = backends.map((b) => {
    const clock = new FakeClock(Date.UTC(2026, 0, 1));
    return { clock, limiter: b.limiter(clock, policies), ceiling: b.ceiling(clock, { burst: 3, perSecond: 0.7 }), trace: [] as unknown[] };
  });
  for (let step = 0; step < 400; step++) {
    const op = random(5);
    const subset = keys.filter(() => random(2) === 1);
    const advance = random(3000);
    for (const run of runs) {
      if (op === 0) run.trace.push(await run.limiter.fail(subset));
      else if (op === 1) run.trace.push(await waitOf(run.limiter.check(subset)));
      else if (op === 2) run.trace.push(await run.limiter.succeed(subset.slice(0, 1)));
      else if (op === 3) run.trace.push(await waitOf(run.ceiling.take(`client:${subset.length}`)));
      else run.clock.advance(advance);
    }
  }
  for (let i = 1; i < runs.length; i++) t.same(runs[i]!.trace, runs[0]!.trace, `${backends[i]!.name} agrees with ${backends[0]!.name}`);
  t.ok(
    runs[0]!.trace.some((x) => typeof x === "number" && x > 1),
    "the history reached real blocks",
  );
});
