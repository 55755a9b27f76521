import t from "tap";
import type { AttemptKey } from "../../src/rate-limit/attempt-limiter.js";
import { attemptKey, familyOf } from "../../src/rate-limit/attempt-limiter.js";
import { DEFAULT_BACKOFF_POLICIES, recordFailure, resolvePolicies, retryAfterSeconds } from "../../src/rate-limit/backoff-policy.js";
import { BoundedMap } from "../../src/rate-limit/bounded-map.js";
import { createMemoryAttemptLimiter } from "../../src/rate-limit/memory-attempt-limiter.js";
import { createMemoryRequestCeiling } from "../../src/rate-limit/memory-request-ceiling.js";
import { takeToken, validateCeiling } from "../../src/rate-limit/request-ceiling.js";
import { FakeClock, MINUTE, SECOND } from "../fixtures/clock.js";

t.test("keys name their family, whatever the subject contains", async (t) => {
  t.equal(familyOf(attemptKey.loginUser("a:b")), "login:user");
  t.equal(familyOf(attemptKey.loginIp("::1")), "login:ip");
  t.equal(familyOf(attemptKey.refreshIp("10.0.0.1")), "refresh:ip");
  t.equal(familyOf(attemptKey.client("svc", "::1")), "client");
  t.equal(familyOf(attemptKey.loginUserIp("a b:c", "::1")), "login:user-ip", "not mistaken for the login:user family");
  t.equal(familyOf(attemptKey.clientIp("::1")), "client-ip", "not mistaken for the client family");
  t.throws(() => familyOf("client" as AttemptKey), TypeError);
});

t.test("default thresholds: 5 free per username and client, 20 per address; 1 s doubling to 15 min", async (t) => {
  t.match(DEFAULT_BACKOFF_POLICIES["login:user"], { freeFailures: 5, windowMs: 15 * MINUTE, baseBlockMs: SECOND, maxBlockMs: 15 * MINUTE });
  t.match(DEFAULT_BACKOFF_POLICIES.client, { freeFailures: 5 });
  for (const f of ["login:ip", "refresh:ip", "client-ip"] as const) t.match(DEFAULT_BACKOFF_POLICIES[f], { freeFailures: 20 });
});

t.test("overrides are merged over the defaults and validated", async (t) => {
  const p = resolvePolicies({ "login:ip": { freeFailures: 50 } });
  t.match(p["login:ip"], { freeFailures: 50, baseBlockMs: SECOND });
  t.same(p["login:user"], DEFAULT_BACKOFF_POLICIES["login:user"]);
  t.throws(() => resolvePolicies({ client: { freeFailures: -1 } }), RangeError);
  t.throws(() => resolvePolicies({ client: { baseBlockMs: 0 } }), RangeError);
  t.throws(() => resolvePolicies({ client: { baseBlockMs: 10 * SECOND, maxBlockMs: SECOND } }), RangeError, "a cap below the first block");
  t.throws(() => resolvePolicies({ client: { windowMs: 1.5 } }), RangeError);
});

t.test("a failure's state is a pure function of the last state, the policy and the time", async (t) => {
  const policy = { freeFailures: 1, windowMs: 10 * SECOND, baseBlockMs: SECOND, maxBlockMs: 3 * SECOND };
  const s1 = recordFailure(undefined, policy, 0);
  t.same(s1, { failures: 1, blockedUntil: 0, resetAt: 10 * SECOND });
  const s2 = recordFailure(s1, policy, SECOND);
  t.same(s2, { failures: 2, blockedUntil: 2 * SECOND, resetAt: 12 * SECOND });
  const s3 = recordFailure(s2, policy, SECOND);
  t.same(s3, { failures: 3, blockedUntil: 3 * SECOND, resetAt: 13 * SECOND });
  t.equal(recordFailure(s3, policy, SECOND).blockedUntil, 4 * SECOND, "capped at 3 s");
  t.same(recordFailure(s3, policy, 13 * SECOND), { failures: 1, blockedUntil: 0, resetAt: 23 * SECOND }, "forgotten at resetAt");
  const huge = recordFailure({ failures: 5000, blockedUntil: 0, resetAt: Infinity }, policy, 0);
  t.equal(huge.blockedUntil, 3 * SECOND, "2^k overflowing to Infinity still caps");
});

t.test("Retry-After is whole seconds, at least 1 while blocked", async (t) => {
  t.equal(retryAfterSeconds(0, 5), 0);
  t.equal(retryAfterSeconds(5, 5), 0);
  t.equal(retryAfterSeconds(6, 5), 1);
  t.equal(retryAfterSeconds(2001, 0), 3);
});

t.test("the bounded map drops the least recently written key past its cap", async (t) => {
  const m = new BoundedMap<number>(2);
  m.set("a", 1);
  m.set("b", 2);
  m.set("a", 3);
  m.set("c", 4);
  t.equal(m.size, 2);
  t.equal(m.get("b"), undefined, "b was the least recent");
  t.equal(m.get("a"), 3);
  t.throws(() => new BoundedMap(0), RangeError);
});

t.test("a flood of distinct usernames does not grow the in-process limiter past its cap", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const limiter = createMemoryAttemptLimiter({ clock, maxEntries: 1000 });
  for (let i = 0; i < 20_000; i++) await limiter.fail([attemptKey.loginUser(`spray-${i}`)]);
  t.equal(limiter.size, 1000);
  await limiter.fail([attemptKey.loginUser("victim")]);
  t.equal(limiter.size, 1000);
});

t.test("expired entries are dropped when seen, not kept until evicted", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const limiter = createMemoryAttemptLimiter({ clock });
  const key = attemptKey.loginUser("alice");
  await limiter.fail([key]);
  t.equal(limiter.size, 1);
  clock.advance(15 * MINUTE);
  await limiter.check([key]);
  t.equal(limiter.size, 0);
});

t.test("a token bucket is a pure function of the last state, the policy and the time", async (t) => {
  const policy = validateCeiling({ burst: 2, perSecond: 2 });
  const a = takeToken(undefined, policy, 0);
  t.same(a, { state: { tokens: 1, at: 0 }, retryAfterMs: 0, fullInMs: 500 });
  const b = takeToken(a.state, policy, 0);
  t.same(b, { state: { tokens: 0, at: 0 }, retryAfterMs: 0, fullInMs: 1000 });
  t.equal(takeToken(b.state, policy, 250).retryAfterMs, 250);
  t.equal(takeToken(b.state, policy, -10_000).retryAfterMs, 500, "a clock stepping back does not drain the bucket");
  t.throws(() => validateCeiling({ burst: 0, perSecond: 1 }), RangeError);
  t.throws(() => validateCeiling({ burst: 1, perSecond: 0 }), RangeError);
});

t.test("the in-process request ceiling stays within its cap", async (t) => {
  const clock = new FakeClock(Date.UTC(2026, 0, 1));
  const ceiling = createMemoryRequestCeiling({ clock, policy: { burst: 5, perSecond: 1 }, maxEntries: 10 });
  for (let i = 0; i < 100; i++) await ceiling.take(`client:${i}`);
  t.equal(ceiling.size, 10);
});
