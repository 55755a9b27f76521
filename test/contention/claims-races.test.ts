// SPEC §11 under contention: a change of a user's claims racing refreshes
// of that user's sessions on other instances. Once the PATCH has answered,
// no access token carrying the old claims is active on any instance's
// /introspect or /forward-auth, nor accepted by a verifier synced to the
// revocation list; the sessions survive and their next refresh carries the
// new claims; nothing answers 5xx. Three instances on one Postgres and
// Redis, each on a clock of its own, aimed at second boundaries (`iat` has
// whole seconds); then the same rounds on one embedded (PGlite) instance.
import t, { type Test } from "tap";
import { decodeJwt } from "jose";
import type { LightMyRequestResponse } from "fastify";
import { testApp, type TestApp } from "../fixtures/app.js";
import { bearer, isActive, refresh, sqlClient, startCluster, type Cluster } from "../fixtures/cluster.js";
import { FakeClock } from "../fixtures/clock.js";
import { lockWaiters } from "../fixtures/lock-waiters.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";
import { verifierFor, verifierRejects } from "../fixtures/verifier.js";
import type { Verifier } from "../../src/verifier/index.js";

const ENV = { RATE_LIMIT_REFRESH_PER_IP: "100000", RATE_LIMIT_LOGIN_PER_IP: "100000", REFRESH_REUSE_GRACE: "3s" };

/** What a round needs of a deployment: its instances, clients, verifier and clocks. */
interface Deployment {
  instances: TestApp[];
  admin: TestClient;
  introspector: TestClient;
  upstream: TestClient;
  verifier: Verifier;
  /** Moves the clock(s) to `ms` after the next whole second; skews instances by up to ±maxSkewMs where they have clocks of their own. */
  aim(ms: number, maxSkewMs: number): void;
  advance(ms: number): void;
}

type Session = { access: string; refresh: string; sid: string };
type Minted = { token: string; role: unknown };

const claimsOf = (token: string) => decodeJwt(token) as Record<string, unknown>;

function issue(d: Deployment, app: TestApp, externalSubject: string): Promise<LightMyRequestResponse> {
  return Promise.resolve(
    app.app.inject({
      method: "POST",
      url: "/sessions",
      headers: { authorization: d.upstream.basic },
      payload: { external_subject: externalSubject, amr: ["pwd", "otp"], acr: "urn:example:loa:2", claims: { tenant: "acme" } },
    }),
  );
}

function setClaims(d: Deployment, app: TestApp, userId: string, claims: Record<string, unknown>): Promise<LightMyRequestResponse> {
  return Promise.resolve(
    app.app.inject({ method: "PATCH", url: `/admin/users/${userId}`, headers: { authorization: d.admin.basic }, payload: { claims } }),
  );
}

/**
 * A user with `count` sessions: an external one issued by the upstream
 * (with session claims) or a local one logged in, over the instances.
 */
async function userWithSessions(
  t: Test,
  d: Deployment,
  kind: "external" | "local",
  count: number,
): Promise<{ userId: string; sessions: Session[] }> {
  const sessions: Session[] = [];
  let userId: string | undefined;
  let local: { id: string; username: string; password: string } | undefined;
  if (kind === "local") local = await d.instances[0]!.createUser();
  const subject = `upstream-${process.pid}-${Math.random().toString(36).slice(2)}`;
  for (let i = 0; i < count; i++) {
    const app = d.instances[i % d.instances.length]!;
    const res = kind === "external" ? await issue(d, app, subject) : await app.login(local!.username, local!.password);
    t.equal(res.statusCode, 200, `${kind} session ${i} issued ${res.statusCode === 200 ? "" : res.body}`);
    const body = res.json();
    const id = kind === "external" ? (body.user_id as string) : local!.id;
    if (userId !== undefined && id !== userId) t.fail(`every issuance for one external subject finds one user (${userId}, ${id})`);
    userId = id;
    sessions.push({ access: body.access_token, refresh: body.refresh_token, sid: body.session_id });
  }
  return { userId: userId!, sessions };
}

/** How many (instance or verifier, token) pairs still accept one of `tokens`. */
async function acceptances(d: Deployment, tokens: string[]): Promise<number> {
  let live = 0;
  for (const token of tokens) {
    for (const app of d.instances) {
      if (await isActive(app, d.introspector, token)) live++;
      const gate = await app.app.inject({ url: "/forward-auth", headers: bearer(token) });
      if (gate.statusCode !== 401) live++;
    }
    if (!(await verifierRejects(d.verifier, token))) live++;
  }
  return live;
}

/**
 * The session's next refresh works and carries `role` (and its own
 * session claims, which a user-claims change leaves alone), and every
 * instance and the verifier accept it with that role.
 */
async function assertCarries(t: Test, d: Deployment, app: TestApp, s: Session, role: string, kind: "external" | "local", what: string) {
  const res = await refresh(app, s.refresh);
  t.equal(res.statusCode, 200, `${what}: the session lives on and refreshes`);
  if (res.statusCode !== 200) return;
  s.access = res.json().access_token;
  s.refresh = res.json().refresh_token;
  const claims = claimsOf(s.access);
  t.equal(claims.role, role, `${what}: the refreshed token carries the new role`);
  if (kind === "external") {
    t.equal(claims.tenant, "acme", `${what}: and the session's own claims`);
    t.same(claims.amr, ["pwd", "otp"], `${what}: and the upstream's amr`);
  } else {
    t.same(claims.amr, ["pwd"], `${what}: and amr pwd of /login`);
  }
  let inactive = 0;
  for (const inst of d.instances) if (!(await isActive(inst, d.introspector, s.access))) inactive++;
  t.equal(inactive, 0, `${what}: every instance answers it active`);
  const verified = await d.verifier.verify(s.access, { transport: "header" });
  t.equal(verified.claims.role, role, `${what}: the verifier accepts it, with the new role in claims`);
}

/**
 * Rounds of one claims change racing refresh loops of the user's sessions
 * on the other instances, at second boundaries with skewed clocks.
 */
async function raceRounds(t: Test, d: Deployment, rounds: number) {
  const n = d.instances.length;
  let escaped = 0;
  let staleAfter = 0;
  let refreshedAfter = 0;
  let refreshedBefore = 0;
  const statuses = new Map<number, number>();
  for (let round = 0; round < rounds; round++) {
    const kind = round % 2 === 0 ? "external" : "local";
    const { userId, sessions } = await userWithSessions(t, d, kind, 3);
    const oldRole = `v${round}`;
    const newRole = `v${round + 1}`;
    t.equal((await setClaims(d, d.instances[0]!, userId, { role: oldRole })).statusCode, 204);
    const minted: Minted[] = sessions.map((s) => ({ token: s.access, role: undefined }));
    for (const s of sessions) {
      const res = await refresh(d.instances[0]!, s.refresh);
      t.equal(res.statusCode, 200);
      s.refresh = res.json().refresh_token;
      s.access = res.json().access_token;
      minted.push({ token: s.access, role: claimsOf(s.access).role });
    }
    t.equal(claimsOf(sessions[0]!.access).role, oldRole, `round ${round}: the sessions carry the role before the change`);

    // Aim at a second boundary; the changing instance is the last one, the refreshing ones the others.
    d.aim(-30 - (round % 7) * 10, 300);
    const changer = d.instances[n - 1]!;
    const refreshers = n > 1 ? d.instances.slice(0, n - 1) : d.instances;
    let answered = false;
    const loop = async (app: TestApp, s: Session) => {
      for (let i = 0; i < 30; i++) {
        const startedAfter = answered;
        const res = await refresh(app, s.refresh);
        d.advance(3);
        statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
        if (res.statusCode !== 200) return;
        const body = res.json();
        s.refresh = body.refresh_token;
        s.access = body.access_token;
        const role = claimsOf(body.access_token).role;
        minted.push({ token: body.access_token, role });
        if (startedAfter) {
          refreshedAfter++;
          if (role !== newRole) staleAfter++;
        } else refreshedBefore++;
      }
    };
    const loops = sessions.map((s, i) => loop(refreshers[i % refreshers.length]!, s));
    await new Promise((r) => setTimeout(r, 2 + (round % 5) * 3));
    const changed = await setClaims(d, changer, userId, { role: newRole });
    answered = true;
    t.equal(
      changed.statusCode,
      204,
      `round ${round} (${kind}): the claims change answered ${changed.statusCode === 204 ? "" : changed.body}`,
    );
    await Promise.all(loops);

    const old = minted.filter((m) => m.role !== newRole).map((m) => m.token);
    const live = await acceptances(d, old);
    if (live > 0) t.comment(`round ${round}: ${live} acceptances of ${old.length} tokens with an older role`);
    escaped += live;
    await assertCarries(t, d, d.instances[round % n]!, sessions[round % 3]!, newRole, kind, `round ${round}`);
  }
  // Not vacuous: the loops did refresh on both sides of the change.
  t.ok(
    refreshedBefore > 0 && refreshedAfter > 0,
    `racing refreshes started before (${refreshedBefore}) and after (${refreshedAfter}) the change answered`,
  );
  t.equal(escaped, 0, "no token with an older role was accepted by any instance or the verifier after the change answered");
  t.equal(staleAfter, 0, `no refresh that started after the change answered returned the old role (${refreshedAfter} did start after)`);
  t.same([...statuses.keys()], [200], `every racing refresh answered 200: the sessions lived on (${JSON.stringify([...statuses])})`);
}

/**
 * Concurrent first issuances for one new external subject, over every
 * instance, find or create one user: none fails on the other's insert.
 */
async function firstIssuanceRace(t: Test, d: Deployment) {
  const subject = `first-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => issue(d, d.instances[i % d.instances.length]!, subject)));
  const statuses = [...new Set(answers.map((r) => r.statusCode))];
  t.same(statuses, [200], `every concurrent first issuance answered 200 (${statuses.join(", ")})`);
  const users = new Set(answers.filter((r) => r.statusCode === 200).map((r) => r.json().user_id as string));
  t.equal(users.size, 1, "all of them found one user");
  const other = await createClient(d.instances[0]!.services, ["sessions:issue"], "another upstream");
  const elsewhere = await d.instances[0]!.app.inject({
    method: "POST",
    url: "/sessions",
    headers: { authorization: other.basic },
    payload: { external_subject: subject },
  });
  t.equal(elsewhere.statusCode, 200);
  t.not(elsewhere.json().user_id, [...users][0], "the same subject from another service client is another user");
}

async function clusterDeployment(t: Test): Promise<{ cluster: Cluster; d: Deployment }> {
  const cluster = await startCluster(t, 3, ENV);
  const first = cluster.instances[0]!;
  const address = await first.app.listen({ host: "127.0.0.1", port: 0 });
  const { verifier } = await verifierFor(t, first, address, { clock: cluster.base, maxStalenessMs: 60_000 });
  await verifier.ready();
  const d: Deployment = {
    instances: cluster.instances,
    admin: cluster.admin,
    introspector: cluster.introspector,
    upstream: await createClient(first.services, ["sessions:issue"], "upstream identity service"),
    verifier,
    aim(ms, maxSkewMs) {
      cluster.toSecondBoundary(ms);
      for (const i of cluster.instances) i.clock.skewMs = Math.round((Math.random() - 0.5) * 2 * maxSkewMs);
    },
    advance: (ms) => cluster.base.advance(ms),
  };
  return { cluster, d };
}

t.test("on three instances of one Postgres and Redis", async (t) => {
  const { cluster, d } = await clusterDeployment(t);
  const [a, b, c] = cluster.instances as unknown as [Cluster["instances"][number], TestApp, TestApp];

  t.test("a refresh that commits while the claims change waits for the user's lock keeps no old-role token alive", async (t) => {
    const { userId, sessions } = await userWithSessions(t, d, "external", 2);
    t.equal((await setClaims(d, a, userId, { role: "author" })).statusCode, 204);
    const before = await refresh(a, sessions[1]!.refresh);
    t.equal(claimsOf(before.json().access_token).role, "author");
    const blocker = await sqlClient(t, cluster.url);
    // The changing instance reads its clock late in a second; the refreshing one is a little ahead, in the next.
    cluster.toSecondBoundary(-100);
    a.clock.skewMs = 250;
    await blocker.query("BEGIN");
    await blocker.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [userId]);
    const change = setClaims(d, c, userId, { role: "reader" });
    await lockWaiters(blocker);
    // A refresh that needs no user lock commits now; one that does waits behind the change.
    const pending = refresh(a, before.json().refresh_token);
    const early = await Promise.race([pending, new Promise<null>((r) => setTimeout(() => r(null), 1_000))]);
    t.comment(early ? "the refresh committed while the change waited" : "the refresh waited behind the change");
    await blocker.query("COMMIT");
    t.equal((await change).statusCode, 204);
    const refreshed = await pending;
    t.equal(refreshed.statusCode, 200, "the racing refresh succeeded");
    const tokens = [sessions[0]!.access, before.json().access_token, refreshed.json().access_token];
    const old = tokens.filter((tok) => claimsOf(tok).role !== "reader");
    t.ok(old.length >= 2, `${old.length} tokens carry an older role`);
    t.equal(await acceptances(d, old), 0, "none of them is accepted anywhere");
    const s1 = { ...sessions[1]!, access: refreshed.json().access_token, refresh: refreshed.json().refresh_token };
    await assertCarries(t, d, b, s1, "reader", "external", "the racing session");
    await assertCarries(t, d, c, sessions[0]!, "reader", "external", "the other session");
  });

  t.test("a grace replay after a claims change carries the new role or is not accepted", async (t) => {
    const { userId, sessions } = await userWithSessions(t, d, "local", 1);
    t.equal((await setClaims(d, a, userId, { role: "author" })).statusCode, 204);
    const presented = sessions[0]!.refresh;
    cluster.toSecondBoundary(-50);
    const first = await refresh(a, presented);
    t.equal(first.statusCode, 200);
    t.equal((await setClaims(d, c, userId, { role: "reader" })).statusCode, 204);
    cluster.base.advance(80); // across the second boundary, within the 3 s grace
    const replay = await refresh(b, presented);
    t.equal(replay.statusCode, 200, "the replay within the grace converges");
    const tokens = [first.json().access_token, replay.json().access_token];
    const old = tokens.filter((tok) => claimsOf(tok).role !== "reader");
    t.equal(await acceptances(d, old), 0, `no old-role token of the ${old.length} is accepted anywhere`);
    const s = { ...sessions[0]!, refresh: replay.json().refresh_token };
    await assertCarries(t, d, c, s, "reader", "local", "after the replay");
  });

  t.test("first issuances of one external subject racing on three instances create one user", (t) => firstIssuanceRace(t, d));

  t.test("claims changes racing refresh loops on other instances, many rounds at second boundaries", async (t) => {
    await raceRounds(t, d, Number(process.env.CONTENTION_ROUNDS ?? 20));
  });
});

t.test("on one embedded (PGlite) instance", async (t) => {
  // The embedded data folder admits one process: the change and the refreshes race on one instance.
  const clock = new FakeClock(Math.ceil(Date.now() / 1000) * 1000);
  const app = await testApp(t, "embedded", { clock, env: ENV });
  const address = await app.app.listen({ host: "127.0.0.1", port: 0 });
  const { verifier } = await verifierFor(t, app, address, { clock, maxStalenessMs: 60_000 });
  await verifier.ready();
  const d: Deployment = {
    instances: [app],
    admin: await createClient(app.services, ["admin"]),
    introspector: await createClient(app.services, ["introspect"]),
    upstream: await createClient(app.services, ["sessions:issue"], "upstream identity service"),
    verifier,
    aim(ms) {
      clock.set(Math.ceil((clock.now().getTime() + 1) / 1000) * 1000 + ms);
    },
    advance: (ms) => clock.advance(ms),
  };
  await firstIssuanceRace(t, d);
  await raceRounds(t, d, Math.ceil(Number(process.env.CONTENTION_ROUNDS ?? 20) / 2));
});
