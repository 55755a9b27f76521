import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";
import { FakeClock, SECOND } from "../fixtures/clock.js";
import { sharedRedis, TOPOLOGIES, topologyPrefix } from "../fixtures/redis-topologies.js";
import { basicAuth, createClient } from "../fixtures/service-client.js";

const LIMITS = { RATE_LIMIT_LOGIN_PER_USER: "3", RATE_LIMIT_LOGIN_PER_IP: "50" };

for (const topology of TOPOLOGIES)
  t.test(
    `brute force on one username is slowed by backoff, recorded in the audit log, and the limit holds across two instances sharing Redis (${topology})`,
    async (t) => {
      const clock = new FakeClock();
      const target = await sharedRedis(topology);
      const prefix = topologyPrefix(t, target);
      const shared = { clock, env: { ...LIMITS, ...target.env }, serviceOptions: { redisKeyPrefix: prefix } };
      const a = await testApp(t, "postgres", shared);
      const b = await testApp(t, "postgres", { ...shared, storage: { url: a.services.config.storage.databaseUrl! } });
      const user = await a.createUser("victim");

      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await a.login("victim", `guess-${i}`)).statusCode);
      t.same(statuses, [401, 401, 401], "the first failures are free");
      const fourth = await b.login("victim", "guess-3");
      t.equal(fourth.statusCode, 401, "the failure that starts the backoff still gets its answer");
      const blocked = await b.login("victim", "guess-4");
      t.equal(blocked.statusCode, 429, "instance B refuses: the failures made on A count");
      t.equal(blocked.json().error, "rate_limited");
      t.equal(blocked.headers["retry-after"], "1", "backoff starts at one second");
      const evenRight = await a.login("victim", user.password);
      t.equal(evenRight.statusCode, 429, "while blocked, even the right password waits (no oracle for the guesser)");

      clock.advance(1.1 * SECOND);
      t.equal((await a.login("victim", "guess-5")).statusCode, 401);
      const longer = await b.login("victim", "guess-6");
      t.equal(longer.statusCode, 429);
      t.equal(longer.headers["retry-after"], "2", "each further failure doubles the wait");

      clock.advance(2.1 * SECOND);
      const ok = await b.login("victim", user.password);
      t.equal(ok.statusCode, 200, "after the wait the right password logs in");
      t.equal((await a.login("victim", "guess-7")).statusCode, 401, "a success resets the username's count");

      const other = await a.createUser("bystander");
      t.equal((await a.login("bystander", other.password)).statusCode, 200, "other users are unaffected");

      const audit = await a.services.db.prisma.auditEvent.findMany({ where: { type: "rate_limited" } });
      t.ok(audit.length >= 3, "rate-limit hits are in the audit log");
      t.match(audit[0]!.detail, { limit: "login" });
      const failures = await a.services.db.prisma.auditEvent.count({ where: { type: "login_failure", userId: user.id } });
      t.ok(failures >= 6, "every failed attempt is in the audit log");
    },
  );

for (const mode of MODES) {
  t.test(`${mode}: failed refreshes and failed client authentication back off too`, async (t) => {
    const clock = new FakeClock();
    const { app, services } = await testApp(t, mode, { clock, env: { RATE_LIMIT_REFRESH_PER_IP: "2", RATE_LIMIT_CLIENT_AUTH: "2" } });
    const refresh = () => app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: "x".repeat(43) } });
    t.same([(await refresh()).statusCode, (await refresh()).statusCode, (await refresh()).statusCode], [401, 401, 401]);
    t.equal((await refresh()).statusCode, 429, "refresh failures per IP back off");

    const client = await createClient(services, ["introspect"]);
    const introspect = (secret: string) =>
      app.inject({ method: "POST", url: "/introspect", headers: { authorization: basicAuth(client.id, secret) }, payload: { token: "x" } });
    t.same(
      [(await introspect("wrong-1")).statusCode, (await introspect("wrong-2")).statusCode, (await introspect("wrong-3")).statusCode],
      [401, 401, 401],
    );
    const limited = await introspect("wrong-4");
    t.equal(limited.statusCode, 429, "client authentication failures back off");
    t.ok(Number(limited.headers["retry-after"]) >= 1);
  });

  t.test(`${mode}: normal use at full speed never meets a limit`, async (t) => {
    const { app, services, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const client = await createClient(services, ["introspect"]);
    let token = (await login(user.username, user.password)).json();
    for (let i = 0; i < 5; i++) t.equal((await login(user.username, user.password)).statusCode, 200, `login on device ${i + 2}`);
    for (let i = 0; i < 30; i++) {
      const r = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: token.refresh_token } });
      if (r.statusCode !== 200) t.fail(`refresh ${i} answered ${r.statusCode}`);
      token = r.json();
    }
    const answers = await Promise.all(
      Array.from({ length: 500 }, () =>
        app.inject({
          method: "POST",
          url: "/introspect",
          headers: { authorization: client.basic },
          payload: { token: token.access_token },
        }),
      ),
    );
    t.same([...new Set(answers.map((r) => r.statusCode))], [200], "500 concurrent introspections, all answered");
    t.ok(answers.every((r) => r.json().active === true));
  });
}

t.test("unknown users and wrong passwords answer alike, in body and in time", async (t) => {
  const { createUser, login } = await testApp(t, "postgres", {
    env: { RATE_LIMIT_LOGIN_PER_IP: "1000", RATE_LIMIT_LOGIN_PER_USER: "1000" },
  });
  const user = await createUser();
  const time = async (username: string) => {
    const started = process.hrtime.bigint();
    const res = await login(username, "wrong password");
    return { ms: Number(process.hrtime.bigint() - started) / 1e6, body: res.body, status: res.statusCode };
  };
  const known: number[] = [];
  const unknown: number[] = [];
  for (let i = 0; i < 15; i++) {
    const k = await time(user.username);
    const u = await time(`nobody-${i}`);
    t.equal(k.body, u.body);
    known.push(k.ms);
    unknown.push(u.ms);
  }
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const ratio = median(unknown) / median(known);
  t.comment(`median wrong-password ${median(known).toFixed(2)} ms, unknown-user ${median(unknown).toFixed(2)} ms`);
  t.ok(ratio > 0.5 && ratio < 2, `unknown users cost a password verification too (ratio ${ratio.toFixed(2)})`);
});
