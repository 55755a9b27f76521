// SPEC §1, §4 and §8 under real faults, in the middle of a load of logins,
// refreshes, logouts and introspections on two instances: the one Redis
// server crashes and comes back empty; the Sentinel group's master is killed
// and its replica promoted; a Cluster master is killed and comes back empty.
// The servers are private ones this test owns; the machine's shared Redis
// and the run's shared topologies are never touched.
import { randomBytes } from "node:crypto";
import type { Cluster, Redis } from "ioredis";
import t from "tap";
import { testApp, type Mode, type TestApp } from "../fixtures/app.js";
import { FakeClock } from "../fixtures/clock.js";
import type { Teardown } from "../fixtures/database.js";
import { eventually } from "../fixtures/eventually.js";
import {
  clusterHealthy,
  clusterOwnerOf,
  privateServer,
  privateServers,
  sentinelMaster,
  startCluster,
  startSentinelGroup,
  until,
} from "../fixtures/redis-servers.js";
import { clientFor, targetOf } from "../fixtures/redis-topologies.js";
import { Anomalies, GENEROUS_LIMITS, sleep, WallClock, within, type Answer } from "../fixtures/fault-support.js";
import { freshRedisPrefix, redisTestUrl } from "../fixtures/redis.js";
import { createClient } from "../fixtures/service-client.js";

interface Revoked {
  kind: "sid" | "sub";
  subject: string;
  /** Wall time the revoking call was sent. */
  sentAt: number;
  /** The session's last access token, which must stay inactive everywhere. */
  access: string;
}

/** A Redis topology the test can break and mend. */
interface Fault {
  name: string;
  /** The service's Redis variables. */
  env: Record<string, string>;
  /** A client for the test's own look-ups (connected after the fault is mended). */
  inspect(): Redis | Cluster;
  /** What the fault is, in a line. */
  what: string;
  break(): Promise<void>;
  /** Resolves once the topology serves every key again. */
  mend(): Promise<void>;
}

type FaultSetup = (t: Teardown, prefix: string) => Promise<Fault>;

const FAULTS: Array<{ name: string; setup: FaultSetup }> = [
  {
    name: "one server crashing and returning empty",
    async setup(t) {
      const redis = await privateServer(t);
      const env = { REDIS_URL: redis.url };
      return {
        name: "standalone",
        env,
        what: "the Redis server is killed",
        inspect: () => clientFor(env),
        break: () => redis.kill("SIGKILL"),
        mend: () => redis.start(),
      };
    },
  },
  {
    name: "the Sentinel master killed and its replica promoted",
    async setup(t) {
      const group = await privateServers(t, startSentinelGroup);
      const env = targetOf(group).env;
      const [master, replica] = group.data as [(typeof group.data)[0], (typeof group.data)[0]];
      return {
        name: "sentinel",
        env,
        what: "the master is killed",
        inspect: () => clientFor(env),
        break: () => master.kill("SIGKILL"),
        mend: () => until("the sentinels promote the replica", async () => (await sentinelMaster(group)) === replica.spec.port, 60_000),
      };
    },
  },
  {
    name: "a Cluster master killed and returning empty",
    async setup(t, prefix) {
      const cluster = await privateServers(t, startCluster);
      const env = targetOf(cluster).env;
      // The master of the fan-out's slot: the subscriptions, leases and fences are lost with it.
      const port = await clusterOwnerOf(cluster, `${prefix}{rev}:events`);
      const victim = cluster.masters.find((m) => m.spec.port === port)!;
      return {
        name: "cluster",
        env,
        what: `the master on ${port} (the revocation channels' slot and a third of the keys) is killed`,
        inspect: () => clientFor(env),
        break: () => victim.kill("SIGKILL"),
        mend: async () => {
          await victim.start();
          for (const m of cluster.masters) await until(`cluster healthy on ${m.spec.port}`, () => clusterHealthy(m.spec.port));
        },
      };
    },
  },
];

// biome-ignore lint/suspicious/noExplicitAny: answers are arbitrary JSON, inspected field by field
type Reply = Answer & { json(): any };

const WORKERS = 12;
/**
 * Each phase lasts at least `minMs` and until `requests` were sent in it (the
 * machine may be busy with other suites), but never beyond `maxMs`.
 */
const PHASES = {
  up: { minMs: 1_000, requests: 80, maxMs: 15_000 },
  down: { minMs: 2_500, requests: 120, maxMs: 20_000 },
  back: { minMs: 1_500, requests: 120, maxMs: 15_000 },
};

const claims = (jwt: string): { iat: number; sid: string } => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString());

// The regression the last test of this file pins down (fixed by nextNotBefore
// in src/domain/revocation-service.ts): a user-wide revocation in the same
// second as an earlier one must stop the tokens issued in between, whose iat
// was moved up to the earlier not_before's second.
const SAME_SECOND_BUG = "a user-wide revocation within the same second as an earlier one must stop the tokens issued in between";

for (const { name: faultName, setup } of FAULTS)
  t.test(
    `Redis under load, ${faultName}: no undocumented 5xx, introspection right throughout on every instance, every revocation made before, during and after in Redis again, the mirror leases back`,
    { timeout: 150_000 },
    async (t) => {
      const prefix = `sa-fault:${process.pid}:${randomBytes(4).toString("hex")}:`;
      const fault = await setup(t, prefix);
      const clock = new WallClock();
      // The attempt limiter's keys follow REDIS_KEY_PREFIX, the revocation keys the service option: both private.
      const env = { ...fault.env, REDIS_KEY_PREFIX: prefix, ...GENEROUS_LIMITS };
      const serviceOptions = { redisKeyPrefix: prefix, background: true };
      const a = await testApp(t, "postgres", { clock, env, serviceOptions });
      const b = await testApp(t, "postgres", { clock, env, serviceOptions, storage: { url: a.services.config.storage.databaseUrl! } });
      const instances: TestApp[] = [a, b];
      const client = await createClient(a.services, ["introspect"]);
      const users = await Promise.all(Array.from({ length: WORKERS }, () => a.createUser()));

      const anomalies = new Anomalies();
      /** Wrong answers of the SAME_SECOND_BUG kind, counted apart from the outage's. */
      const sameSecond: string[] = [];
      const revoked: Revoked[] = [];
      let stopped = false;
      let downSince = Infinity;
      let backAt = Infinity;
      const sentBy = { up: 0, down: 0, back: 0 };

      const pick = () => instances[Math.floor(Math.random() * instances.length)]!;
      const post = async (app: TestApp, url: string, payload: object, headers: Record<string, string> = {}): Promise<Reply> => {
        const now = Date.now();
        sentBy[now < downSince ? "up" : now < backAt ? "down" : "back"]++;
        const res = await app.app.inject({ method: "POST", url, payload, headers });
        return Object.assign(res, { headers: res.headers as Record<string, unknown> });
      };

      /** Introspects on a random instance; `expected` is what a correct answer says. */
      const expectActive = async (token: string, expected: boolean, what: string, explained?: () => boolean) => {
        const res = await post(pick(), "/introspect", { token }, { authorization: client.basic });
        if (anomalies.checkNo5xx(`introspect (${what})`, res)) return;
        if (res.statusCode !== 200) return anomalies.add(`introspect (${what}) answered`, res);
        if (res.json().active === expected) return;
        if (explained?.()) sameSecond.push(what);
        else anomalies.add(`introspect (${what}) said active=${!expected}`, res);
      };

      /** Retries a call answered with a documented 503 (a client honouring Retry-After, hurried). */
      const call = async (what: string, send: () => Promise<Reply>): Promise<Reply | null> => {
        for (let attempt = 0; attempt < 20; attempt++) {
          const res = await send();
          if (!anomalies.checkNo5xx(what, res)) return res;
          await sleep(100);
        }
        anomalies.add(`${what}: still 503 after 20 attempts`);
        return null;
      };

      const worker = async (user: { id: string; username: string; password: string }) => {
        while (!stopped) {
          const login = await call("login", () => post(pick(), "/login", { username: user.username, password: user.password }));
          if (!login) continue;
          if (login.statusCode !== 200) {
            anomalies.add("login", login);
            continue;
          }
          let { access_token: access, refresh_token: refresh } = login.json() as { access_token: string; refresh_token: string };
          const sid = login.json().session_id as string;
          await expectActive(access, true, "fresh login");

          const rotated = await call("refresh", () => post(pick(), "/refresh", { refresh_token: refresh }));
          if (rotated?.statusCode === 200) {
            ({ access_token: access, refresh_token: refresh } = rotated.json());
            await expectActive(access, true, "after refresh");
          } else if (rotated) {
            anomalies.add("refresh of a live session", rotated);
          }

          const everywhere = Math.random() < 0.2;
          const sentAt = Date.now();
          const out = await call("logout", () =>
            post(pick(), "/logout", everywhere ? { all: true } : {}, { authorization: `Bearer ${access}` }),
          );
          if (out?.statusCode !== 204) {
            if (out) anomalies.add("logout", out);
            continue;
          }
          revoked.push(everywhere ? { kind: "sub", subject: user.id, sentAt, access } : { kind: "sid", subject: sid, sentAt, access });
          // SPEC §4: once the logout answered, no instance may say active.
          const iat = claims(access).iat;
          const what = `after its ${everywhere ? "logout everywhere" : "logout"} answered (sent at ${sentAt} ms, token iat ${iat} s)`;
          // Only an iat pushed past the revocation instant (tokensFor's bump after an earlier one) meets the bug.
          const explained = () => everywhere && iat * 1000 > sentAt;
          await expectActive(access, false, what, explained);
          await expectActive(access, false, `${what}, again`, explained);
          const spent = await post(pick(), "/refresh", { refresh_token: refresh });
          if (!anomalies.checkNo5xx("refresh after logout", spent) && spent.statusCode !== 401)
            anomalies.add("refresh after logout", spent);
        }
      };

      const phase = async (name: keyof typeof PHASES) => {
        const { minMs, requests, maxMs } = PHASES[name];
        const start = Date.now();
        await sleep(minMs);
        while (sentBy[name] < requests && Date.now() - start < maxMs) await sleep(50);
      };

      // Warm both instances up, so the first phase is not all cold start.
      for (const app of instances) {
        const warm = await app.login(users[0]!.username, users[0]!.password);
        t.equal(warm.statusCode, 200, "warm-up login");
        await expectActive(warm.json().access_token, true, "warm-up");
      }
      await eventually(async () => (await leased(a)) && (await leased(b)), 10_000);
      t.pass("both instances hold a mirror lease before the fault");
      const load = Promise.all(users.map(worker));
      await phase("up");
      await fault.break();
      downSince = Date.now();
      t.comment(`${fault.what} at ${new Date(downSince).toISOString()}`);
      const degraded = await eventually(async () => {
        const r = await a.services.readiness();
        return r.redis === "degraded" ? r : null;
      }, 10_000).catch(() => null);
      t.ok(degraded?.ready, `/readyz: ready, Redis degraded (${JSON.stringify(degraded?.redis_topology)})`);
      if (fault.name === "cluster")
        t.ok(
          degraded?.redis_topology?.masters.some((m) => !m.reachable),
          "naming the master that does not answer",
        );
      t.match(
        (await a.app.inject({ method: "GET", url: "/metrics" })).body,
        /^session_authority_redis_up 0$/m,
        "the redis_up gauge says 0",
      );
      await phase("down");
      await fault.mend();
      backAt = Date.now();
      t.comment(`mended after ${backAt - downSince} ms`);
      await phase("back");
      stopped = true;
      await within(30_000, load, "the load after stopping");

      t.same(anomalies.list.slice(0, 20), [], `no wrong answer (${anomalies.total} requests: ${anomalies.summary()})`);
      t.same(sameSecond, [], `no token alive after its logout everywhere answered: ${SAME_SECOND_BUG}`);
      t.ok(anomalies.total >= 300, `a few hundred requests at least (${anomalies.total})`);
      t.ok(
        (Object.keys(PHASES) as Array<keyof typeof PHASES>).every((p) => sentBy[p] >= PHASES[p].requests),
        `the load ran before, during and after the outage (${JSON.stringify(sentBy)})`,
      );
      t.ok(
        [...anomalies.statuses.keys()].every((s) => s < 500 || s === 503),
        "no 5xx other than 503 (and each 503 carried Retry-After)",
      );
      const whileDown = revoked.filter((r) => r.sentAt >= downSince && r.sentAt < backAt);
      t.ok(whileDown.length >= WORKERS / 2, `revocations were made while Redis was down (${whileDown.length})`);
      t.ok(revoked.some((r) => r.sentAt < downSince) && revoked.some((r) => r.sentAt >= backAt), "and before and after it");

      // SPEC §4: queued durably, replayed when it returns.
      const prisma = a.services.db.prisma;
      const unpublished = () => prisma.revocation.count({ where: { publishedAt: null } });
      await eventually(async () => (await unpublished()) === 0, 15_000).catch(() => {});
      t.equal(await unpublished(), 0, "the revocations table has no unpublished row");
      const inspect = fault.inspect();
      t.teardown(() => inspect.disconnect());
      // The re-feed after a restart or promotion is a background write: give it the outbox's time.
      const missingKeys = async () => {
        const missing: string[] = [];
        for (const r of revoked) {
          const key = `${prefix}rev:${r.kind}:${r.subject}`;
          if ((await inspect.pttl(key).catch(() => -3)) <= 0) missing.push(key);
        }
        return missing;
      };
      await eventually(async () => (await missingKeys()).length === 0, 15_000).catch(() => {});
      t.same(
        await missingKeys(),
        [],
        `each of the ${revoked.length} revocations made before, during and after the fault is a key in Redis, with a TTL`,
      );

      const stillActive: string[] = [];
      for (const r of revoked) {
        for (const app of instances) {
          const res = await app.app.inject({
            method: "POST",
            url: "/introspect",
            payload: { token: r.access },
            headers: { authorization: client.basic },
          });
          if (res.statusCode !== 200 || res.json().active !== false)
            stillActive.push(`${r.kind} ${r.subject}: ${res.statusCode} ${res.body.slice(0, 80)}`);
        }
      }
      t.same(stillActive.slice(0, 10), [], `all ${revoked.length} revocations are effective on both instances afterwards`);
      for (const app of instances) {
        await eventually(() => leased(app), 15_000).catch(() => {});
        t.ok(await leased(app), "the instance holds its mirror lease again");
        const ready = await app.services.readiness();
        t.match(ready, { ready: true, redis: "ok", redis_topology: { mode: fault.name } }, "the instance uses Redis again");
        t.ok(
          ready.redis_topology!.masters.every((m) => m.reachable),
          `and reports every master reachable: ${JSON.stringify(ready.redis_topology)}`,
        );
        t.match(
          (await app.app.inject({ method: "GET", url: "/metrics" })).body,
          /^session_authority_redis_up 1$/m,
          "the redis_up gauge says 1",
        );
      }
    },
  );

/** The instance's mirror-lease gauge: does it answer introspection from its mirror alone? */
async function leased(app: TestApp): Promise<boolean> {
  const res = await app.app.inject({ method: "GET", url: "/metrics" });
  return /^session_authority_revocation_mirror_leased 1$/m.test(res.body);
}

/** A pinned-down regression test for SAME_SECOND_BUG, without any fault. */
const sameSecondModes: Array<{ name: string; mode: Mode; redis: boolean }> = [
  { name: "with Redis", mode: "postgres", redis: true },
  { name: "embedded", mode: "embedded", redis: false },
];
for (const { name, mode, redis } of sameSecondModes) {
  t.test(
    `a second logout everywhere within the same second stops the tokens issued since the first (${name})`,
    { timeout: 60_000 },
    async (t) => {
      // 300 ms into a second: both revocations fall in it.
      const clock = new FakeClock(Math.floor(Date.now() / 1000) * 1000 + 300);
      const prefix = redis ? freshRedisPrefix(t) : undefined;
      const app = await testApp(t, mode, {
        clock,
        ...(prefix ? { env: { REDIS_URL: redisTestUrl(), REDIS_KEY_PREFIX: prefix }, serviceOptions: { redisKeyPrefix: prefix } } : {}),
      });
      const client = await createClient(app.services, ["introspect"]);
      const user = await app.createUser();
      const logoutAll = (token: string) =>
        app.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${token}` }, payload: { all: true } });

      const first = (await app.login(user.username, user.password)).json();
      t.equal((await logoutAll(first.access_token)).statusCode, 204, "the first logout everywhere answered");
      const second = (await app.login(user.username, user.password)).json();
      t.ok(
        claims(second.access_token).iat * 1000 > clock.now().getTime(),
        "a token issued just after a user-wide revocation has its iat moved past it",
      );
      clock.advance(200);
      t.equal((await logoutAll(second.access_token)).statusCode, 204, "the second, 200 ms later, answered");
      const res = await app.app.inject({
        method: "POST",
        url: "/introspect",
        headers: { authorization: client.basic },
        payload: { token: second.access_token },
      });
      t.equal(res.json().active, false, "the token issued between the two is inactive once the second answered");
    },
  );
}

// Once in several runs on a killed Cluster master, a handle outlives every
// client's disconnect() (an ioredis reconnect timer, not found yet) and the
// file never exits although every assertion has run. Exit a few seconds
// after the last teardown if something still holds the event loop; tap has
// the results by then, and process.exitCode carries any failure.
t.teardown(() => {
  setTimeout(() => process.exit(), 5_000).unref();
});
