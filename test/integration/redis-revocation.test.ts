// SPEC §4 across instances: two app instances on one Postgres and one Redis
// key prefix, on each Redis topology (SPEC §8: one server, Sentinel, Cluster).
// Redis outages are made with a TCP proxy the test controls in front of the
// machine's Redis, which is never stopped; test/fault/redis-outage.test.ts
// kills real servers of every topology.
import t from "tap";
import { testApp, type TestApp } from "../fixtures/app.js";
import { FakeClock } from "../fixtures/clock.js";
import type { Teardown } from "../fixtures/database.js";
import { eventually } from "../fixtures/eventually.js";
import { freshRedisPrefix, redisClient, redisTestUrl } from "../fixtures/redis.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";
import { faultProxy } from "../fixtures/fault-proxy.js";
import { sharedRedis, TOPOLOGIES, topologyPrefix, type RedisTarget } from "../fixtures/redis-topologies.js";

interface Cluster {
  prefix: string;
  clock: FakeClock;
  url?: string;
  /** The Redis the instances use (default: the machine's one server). */
  redis?: RedisTarget;
}

async function instance(
  t: Teardown,
  cluster: Cluster,
  opts: { redisUrl?: string; background?: boolean; pollMs?: number; leaseMs?: number } = {},
): Promise<TestApp> {
  const app = await testApp(t, "postgres", {
    clock: cluster.clock,
    ...(cluster.url ? { storage: { url: cluster.url } } : {}),
    env: opts.redisUrl || !cluster.redis ? { REDIS_URL: opts.redisUrl ?? redisTestUrl() } : cluster.redis.env,
    serviceOptions: {
      redisKeyPrefix: cluster.prefix,
      background: opts.background ?? true,
      ...(opts.pollMs ? { revocationPollMs: opts.pollMs } : {}),
      ...(opts.leaseMs ? { mirrorLeaseMs: opts.leaseMs } : {}),
    },
  });
  cluster.url ??= app.services.config.storage.databaseUrl!;
  return app;
}

const cluster = (t: Teardown): Cluster => ({ prefix: freshRedisPrefix(t), clock: new FakeClock() });

async function active(app: TestApp, client: TestClient, token: string): Promise<boolean> {
  const res = await app.app.inject({ method: "POST", url: "/introspect", headers: { authorization: client.basic }, payload: { token } });
  if (res.statusCode !== 200) throw new Error(`introspect answered ${res.statusCode}: ${res.body}`);
  return res.json().active;
}

const logout = (app: TestApp, token: string, all = false) =>
  app.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${token}` }, payload: all ? { all: true } : {} });

/** Counts the Postgres session reads an instance makes (the introspection fallback). */
function countSessionReads(app: TestApp): () => number {
  let n = 0;
  const store = app.services.sessionStore;
  const original = store.findSession.bind(store);
  store.findSession = async (id) => (n++, original(id));
  return () => n;
}

/** The instance's mirror-lease gauge: does it answer introspection from its mirror alone? */
async function leased(app: TestApp): Promise<boolean> {
  const res = await app.app.inject({ method: "GET", url: "/metrics" });
  return /^session_authority_revocation_mirror_leased 1$/m.test(res.body);
}

const redisTarget = () => {
  const u = new URL(redisTestUrl());
  return { host: u.hostname, port: Number(u.port || 6379) };
};

for (const topology of TOPOLOGIES)
  t.test(`logout on one instance is seen by introspection on another at once, through Redis (${topology})`, async (t) => {
    const target = await sharedRedis(topology);
    const c: Cluster = { prefix: topologyPrefix(t, target), clock: new FakeClock(), redis: target };
    // B polls Postgres rarely, so what it learns in the first second came by pub/sub.
    const a = await instance(t, c);
    const b = await instance(t, c, { pollMs: 60_000 });
    const client = await createClient(a.services, ["introspect"]);
    const user = await a.createUser();
    const redis = target.client(t);
    await eventually(async () => (await leased(a)) && (await leased(b)), 5_000);
    t.pass("both instances hold a mirror lease: fences came back through the subscription");
    const login = (await a.login(user.username, user.password)).json();
    const other = (await a.login(user.username, user.password)).json();
    t.equal(await active(b, client, login.access_token), true);
    // B learns each session's owner once (introspection checks sub against it); later answers need no read.
    t.equal(await active(b, client, other.access_token), true);

    t.equal((await logout(a, login.access_token)).statusCode, 204);
    const reads = countSessionReads(b);
    t.equal(await active(b, client, login.access_token), false, "B answers inactive immediately after A's logout answered");
    t.equal(await active(b, client, other.access_token), true);
    t.equal(reads(), 0, "mirror and Redis answered: no Postgres read on the hot path");

    const key = `${c.prefix}rev:sid:${login.session_id}`;
    const [value, ttl] = await Promise.all([redis.get(key), redis.pttl(key)]);
    const exp = JSON.parse(Buffer.from(login.access_token.split(".")[1], "base64url").toString()).exp;
    // Rounded up to the second: never shorter than the newest token's life.
    t.ok(Number(value) === exp || Number(value) === exp + 1, "the sid key holds the exp of the session's newest access token");
    t.ok(ttl > 590_000 && ttl <= 600_000, `its TTL is the token's remaining lifetime (${ttl} ms)`);
    const row = await a.services.db.prisma.revocation.findFirst({ where: { subject: login.session_id } });
    t.not(row?.publishedAt, null, "the outbox row is marked published");

    await eventually(() => b.services.revocationList.isRevoked(login.session_id, user.id, 0, c.clock.now().getTime()), 1_000);
    t.pass("B's mirror learned it by pub/sub within a second");

    t.equal((await logout(a, other.access_token, true)).statusCode, 204);
    t.equal(await active(b, client, other.access_token), false, "logout everywhere is one user entry");
    const notBefore = await redis.get(`${c.prefix}rev:sub:${user.id}`);
    t.equal(Number(notBefore), Math.ceil(c.clock.now().getTime() / 1000), "the sub key holds not_before");
    t.match(
      await a.services.readiness(),
      { ready: true, redis: "ok", redis_topology: { mode: topology } },
      "/readyz names the topology in use",
    );
  });

t.test("without Redis at start, revocations succeed in Postgres and are replayed when it comes back", async (t) => {
  const c = cluster(t);
  const proxy = await faultProxy(t, redisTarget());
  const redisUrl = proxy.url(redisTestUrl());
  await proxy.refuse(); // a closed port
  const a = await instance(t, c, { redisUrl });
  const client = await createClient(a.services, ["introspect"]);
  const user = await a.createUser();
  const redis = redisClient(t);
  t.match(await a.services.readiness(), { ready: true, redis: "degraded" }, "ready, degraded");

  const login = (await a.login(user.username, user.password)).json();
  t.equal((await logout(a, login.access_token)).statusCode, 204, "the revocation succeeds");
  t.equal(await active(a, client, login.access_token), false);
  const row = await a.services.db.prisma.revocation.findFirstOrThrow({ where: { subject: login.session_id } });
  t.equal(row.publishedAt, null, "queued in the outbox");
  t.equal(await redis.exists(`${c.prefix}rev:sid:${login.session_id}`), 0);

  await proxy.heal();
  await eventually(
    async () => (await a.services.db.prisma.revocation.findUniqueOrThrow({ where: { id: row.id } })).publishedAt !== null,
    10_000,
  );
  t.pass("the outbox drained once Redis was reachable");
  t.equal(await redis.exists(`${c.prefix}rev:sid:${login.session_id}`), 1, "the key is in Redis");
  t.ok((await redis.pttl(`${c.prefix}rev:sid:${login.session_id}`)) > 0, "with a TTL");
  t.match(await a.services.readiness(), { ready: true, redis: "ok" });
});

t.test("an instance that cannot reach Redis answers introspection from Postgres", async (t) => {
  const c = cluster(t);
  const proxy = await faultProxy(t, redisTarget());
  // No background work: A learns nothing by pub/sub or poll, so only Postgres can tell it.
  const a = await instance(t, c, { redisUrl: proxy.url(redisTestUrl()), background: false });
  const b = await instance(t, c, { background: false });
  const client = await createClient(a.services, ["introspect"]);
  const user = await b.createUser();
  const revoked = (await b.login(user.username, user.password)).json();
  const live = (await b.login(user.username, user.password)).json();
  await proxy.refuse();

  t.equal((await logout(b, revoked.access_token)).statusCode, 204);
  const reads = countSessionReads(a);
  t.equal(await active(a, client, revoked.access_token), false, "the revoked session is inactive");
  t.equal(await active(a, client, live.access_token), true, "a live one is active");
  t.ok(reads() >= 2, "both answers came from Postgres");
});

t.test("a revocation on an instance cut off from Redis still reaches instances that use Redis", async (t) => {
  const c = cluster(t);
  const proxy = await faultProxy(t, redisTarget());
  const a = await instance(t, c, { redisUrl: proxy.url(redisTestUrl()) });
  const b = await instance(t, c);
  const client = await createClient(a.services, ["introspect"]);
  const user = await a.createUser();
  const redis = redisClient(t);
  const login = (await a.login(user.username, user.password)).json();
  await proxy.refuse();

  const started = Date.now();
  t.equal((await logout(a, login.access_token)).statusCode, 204);
  t.ok(Date.now() - started >= 1_000, "the answer waited for the other instances' Postgres poll");
  t.equal(await active(b, client, login.access_token), false, "B, whose Redis lacks the entry, answers inactive at once");

  await eventually(async () => (await redis.exists(`${c.prefix}rev:sid:${login.session_id}`)) === 1, 10_000);
  t.pass("B's outbox worker replayed A's entry to Redis");
});

t.test("Postgres without Redis: instances agree through the database", async (t) => {
  const clock = new FakeClock();
  const a = await testApp(t, "postgres", { clock });
  const b = await testApp(t, "postgres", { clock, storage: { url: a.services.config.storage.databaseUrl! } });
  const client = await createClient(a.services, ["introspect"]);
  const user = await a.createUser();
  const login = (await a.login(user.username, user.password)).json();
  t.equal(await active(b, client, login.access_token), true);
  t.equal((await logout(a, login.access_token)).statusCode, 204);
  t.equal(await active(b, client, login.access_token), false);
  t.match(await b.services.readiness(), { redis: "not_configured" });
});

t.test("an instance holding a mirror lease answers from its mirror alone, and a revoker waits for it", async (t) => {
  const c = cluster(t);
  const proxy = await faultProxy(t, redisTarget());
  const a = await instance(t, c, { leaseMs: 1_000 });
  // B hears Redis through a proxy the test freezes: a silent partition, no FIN, no RST.
  const b = await instance(t, c, { redisUrl: proxy.url(redisTestUrl()), pollMs: 60_000, leaseMs: 1_000 });
  const client = await createClient(a.services, ["introspect"]);
  const user = await a.createUser();
  const first = (await a.login(user.username, user.password)).json();
  const second = (await a.login(user.username, user.password)).json();
  await eventually(() => leased(b), 5_000);
  t.pass("B took a lease");

  // While leased, B's answer for a token of a live session needs neither Redis nor Postgres.
  t.equal((await logout(a, first.access_token)).statusCode, 204);
  t.equal(await active(b, client, first.access_token), false, "B has A's revocation in its mirror (acknowledged before A answered)");
  t.equal(await active(b, client, second.access_token), true, "B learns the session's owner once");
  proxy.freeze();
  const reads = countSessionReads(b);
  const held = proxy.heldBytes();
  t.equal(await active(b, client, second.access_token), true);
  t.equal(proxy.heldBytes(), held, "answered without sending a Redis command over the frozen link");
  t.equal(reads(), 0, "and no Postgres read");

  // B can no longer acknowledge: A's revocation waits until B's lease has run out.
  const revoking = Date.now();
  t.equal((await logout(a, second.access_token)).statusCode, 204);
  const waited = Date.now() - revoking;
  t.ok(waited < 1_500, `the wait is bounded by the lease (${waited} ms)`);
  t.equal(await leased(b), false, "by the time A answered, B no longer trusts its mirror");
  t.equal(await active(b, client, second.access_token), false, "so B asks Postgres and answers inactive");
  t.ok(reads() >= 1, "B's answer came from Postgres");
  await proxy.heal();
  await eventually(() => leased(b), 5_000);
  t.pass("B takes a lease again once Redis is back");
});
