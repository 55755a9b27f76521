// SPEC §10 under contention: a policy change of application X applied at
// once while refreshes and logins of X and of another application Y run on
// three instances. Afterwards no session of X violates the new policy and
// no token issued before the change outlives its limits; Y was never
// waiting on the change; nothing answered 5xx.
import t from "tap";
import type { LightMyRequestResponse } from "fastify";
import { decodeJwt } from "jose";
import type { TestApp } from "../fixtures/app.js";
import { seedAppSessions } from "../fixtures/app-sessions.js";
import { isActive, startCluster } from "../fixtures/cluster.js";
import { MINUTE } from "../fixtures/clock.js";

const NEW_POLICY = { access_token_ttl: "1m", refresh_token_ttl: "5m", max_sessions_per_user: 1 };

t.test("a policy change of X racing refreshes and logins of X and Y on three instances", async (t) => {
  const cluster = await startCluster(t, 3, { RATE_LIMIT_REFRESH_PER_IP: "100000", RATE_LIMIT_LOGIN_PER_IP: "100000" });
  const [a, b, c] = cluster.instances as unknown as [TestApp, TestApp, TestApp];
  const admin = { authorization: cluster.admin.basic };
  for (const id of ["x", "y"]) {
    const res = await a.app.inject({ method: "POST", url: "/admin/applications", headers: admin, payload: { id, name: id } });
    t.equal(res.statusCode, 201, res.body);
  }
  // Bulk: the change has many sessions to walk, long enough for the race to happen during it.
  await seedAppSessions(a.services.db.sql, { tag: "race", app: "x", users: 2000, sessions: 20_000, now: cluster.base.now() });

  type Live = { app: "x" | "y"; user: { username: string; password: string }; refresh: string; access: string };
  const live: Live[] = [];
  const users: Array<{ app: "x" | "y"; user: { username: string; password: string } }> = [];
  for (let i = 0; i < 12; i++) {
    const app = i % 2 === 0 ? "x" : "y";
    const user = await a.createUser();
    users.push({ app, user });
    for (let k = 0; k < 3; k++) {
      const body = (await cluster.instances[k]!.login(user.username, user.password, { client_id: app })).json();
      live.push({ app, user, refresh: body.refresh_token, access: body.access_token });
    }
  }
  cluster.base.advance(2 * MINUTE);

  const answers: Array<{ app: "x" | "y"; status: number; start: number; end: number; access?: string }> = [];
  const tokensOfX: string[] = live.filter((s) => s.app === "x").map((s) => s.access);
  const timed = async (app: "x" | "y", work: () => Promise<LightMyRequestResponse>) => {
    const start = performance.now();
    const res = await work();
    const access = res.statusCode === 200 ? (res.json().access_token as string) : undefined;
    answers.push({ app, status: res.statusCode, start, end: performance.now(), ...(access ? { access } : {}) });
    if (app === "x" && access) tokensOfX.push(access);
    return res;
  };

  let racing = true;
  const workers = cluster.instances.flatMap((inst) =>
    [0, 1].map(async (w) => {
      let n = 0;
      while (racing) {
        const s = live[(n++ * 7 + w * 13) % live.length]!;
        if (n % 3 === 0) {
          const u = users[(n + w) % users.length]!;
          await timed(u.app, () => inst.login(u.user.username, u.user.password, { client_id: u.app }));
        } else {
          const res = await timed(s.app, () =>
            Promise.resolve(inst.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: s.refresh } })),
          );
          if (res.statusCode === 200) s.refresh = res.json().refresh_token;
        }
      }
    }),
  );
  await new Promise((r) => setTimeout(r, 200));
  const changeStart = performance.now();
  const changed = await b.app.inject({ method: "PATCH", url: "/admin/applications/x", headers: admin, payload: { policy: NEW_POLICY } });
  const changeEnd = performance.now();
  const changedAt = cluster.base.now().getTime();
  await new Promise((r) => setTimeout(r, 200));
  racing = false;
  await Promise.all(workers);

  t.equal(changed.statusCode, 200, changed.body);
  t.ok(changed.json().policy_effect.sessions_ended > 1000, `the change ended ${changed.json().policy_effect.sessions_ended} sessions`);
  t.same(
    answers.filter((r) => r.status >= 500),
    [],
    "no 5xx",
  );
  const yDuring = answers.filter((r) => r.app === "y" && r.start > changeStart && r.end < changeEnd);
  t.ok(
    yDuring.length > 0,
    `Y was not blocked: ${yDuring.length} of its operations started and finished during the change (${Math.round(changeEnd - changeStart)} ms)`,
  );
  t.ok(
    answers.some((r) => r.app === "x" && r.start > changeStart),
    "X was exercised during and after the change too",
  );

  const q = (text: string, values: unknown[] = []) => c.services.db.sql.query<Record<string, number>>({ text, values, name: "" });
  const now = cluster.base.now();
  const [violations] = await q(
    `SELECT
       count(*) FILTER (WHERE s.idle_expires_at > s.last_seen_at + interval '5 minutes')::int AS idle,
       count(*) FILTER (WHERE s.absolute_expires_at > s.created_at + interval '30 days')::int AS absolute,
       count(*) FILTER (WHERE s.idle_ttl_ms IS DISTINCT FROM 300000 OR s.access_ttl_ms IS DISTINCT FROM 60000)::int AS lifetimes,
       count(*) FILTER (WHERE s.access_expires_at > s.last_seen_at + interval '1 minute'
                          AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.kind = 'sid' AND r.subject = s.id::text
                                            AND r.not_before IS NOT NULL))::int AS uncut
     FROM sessions s
     WHERE s.client_id = 'x' AND s.revoked_at IS NULL AND s.idle_expires_at > $1::timestamptz AND s.absolute_expires_at > $1::timestamptz`,
    [now],
  );
  t.same(violations, { idle: 0, absolute: 0, lifetimes: 0, uncut: 0 }, "no live session of X violates the new policy");
  const [over] = await q(
    `SELECT count(*)::int AS n FROM (
       SELECT user_id FROM sessions
       WHERE client_id = 'x' AND revoked_at IS NULL AND idle_expires_at > $1::timestamptz AND absolute_expires_at > $1::timestamptz
       GROUP BY user_id HAVING count(*) > 1) AS o`,
    [now],
  );
  t.equal(over!.n, 0, "no user has more live sessions of X than the new limit");

  let outliving = 0;
  for (const token of tokensOfX) {
    const { exp, iat } = decodeJwt(token) as { exp: number; iat: number };
    if (exp * 1000 <= changedAt + MINUTE || exp - iat <= 60) continue;
    for (const inst of cluster.instances) if (await isActive(inst, cluster.introspector, token)) outliving++;
  }
  t.equal(
    outliving,
    0,
    `no access token of X issued before the change outlives the new limit (${tokensOfX.length} checked on 3 instances)`,
  );
});
