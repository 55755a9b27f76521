// SPEC §4 under contention: once a revocation has answered, no instance and
// no verifier accepts any token of the sessions it ended, and no refresh of
// them succeeds, whatever refreshes were in flight on other instances.
// Three instances on one Postgres and Redis, each on a clock of its own.
import t, { type Test } from "tap";
import type { TestApp } from "../fixtures/app.js";
import { bearer, isActive, refresh, sqlClient, startCluster, type Cluster } from "../fixtures/cluster.js";
import { lockWaiters } from "../fixtures/lock-waiters.js";
import type { Verifier } from "../../src/verifier/index.js";
import { verifierFor, verifierRejects } from "../fixtures/verifier.js";

let cluster: Cluster;
let verifier: Verifier;

t.before(async () => {
  // Refreshes that fail after a revocation are expected here; they must not block the address.
  cluster = await startCluster(t, 3, { RATE_LIMIT_REFRESH_PER_IP: "100000", RATE_LIMIT_LOGIN_PER_IP: "100000", REFRESH_REUSE_GRACE: "3s" });
  const address = await cluster.instances[0]!.app.listen({ host: "127.0.0.1", port: 0 });
  ({ verifier } = await verifierFor(t, cluster.instances[0]!, address, { clock: cluster.base, maxStalenessMs: 60_000 }));
  await verifier.ready();
});

type Session = { access: string; refresh: string; sid: string };

async function loginSessions(
  app: TestApp,
  count: number,
): Promise<{ user: { id: string; username: string; password: string }; sessions: Session[] }> {
  const user = await app.createUser();
  const sessions: Session[] = [];
  for (let i = 0; i < count; i++) {
    const body = (await app.login(user.username, user.password)).json();
    sessions.push({ access: body.access_token, refresh: body.refresh_token, sid: body.session_id });
  }
  return { user, sessions };
}

/** Every token is inactive on every instance at once, and the verifier rejects it. */
async function assertAllDead(t: Test, tokens: string[], what: string) {
  let live = 0;
  for (const token of tokens) {
    for (const app of cluster.instances) if (await isActive(app, cluster.introspector, token)) live++;
  }
  t.equal(live, 0, `${what}: no instance answers active for any of ${tokens.length} tokens`);
  let accepted = 0;
  for (const token of tokens) if (!(await verifierRejects(verifier, token))) accepted++;
  t.equal(accepted, 0, `${what}: the verifier rejects all of them`);
}

t.test("a refresh that commits while logout-all waits for the user's lock mints no token that outlives it", async (t) => {
  const [a, b, c] = cluster.instances as unknown as [Cluster["instances"][number], TestApp, TestApp];
  const { sessions } = await loginSessions(a, 2);
  const blocker = await sqlClient(t, cluster.url);

  // The revoking instance reads its clock late in a second; the refreshing
  // instance is a little ahead, in the next second.
  cluster.toSecondBoundary(-100);
  a.clock.skewMs = 250;
  await blocker.query("BEGIN");
  await blocker.query("SELECT 1 FROM users WHERE id = (SELECT user_id FROM sessions WHERE id = $1) FOR UPDATE", [sessions[0]!.sid]);
  // inject() starts a request only once awaited.
  const logout = Promise.resolve(
    c.app.inject({ method: "POST", url: "/logout", headers: bearer(sessions[0]!.access), payload: { all: true } }),
  );
  await lockWaiters(blocker);
  const refreshed = await refresh(a, sessions[1]!.refresh);
  t.equal(refreshed.statusCode, 200, "the refresh ran while the revocation waited");
  await blocker.query("COMMIT");
  t.equal((await logout).statusCode, 204);

  await assertAllDead(t, [sessions[0]!.access, sessions[1]!.access, refreshed.json().access_token], "after logout-all");
  t.equal((await refresh(b, refreshed.json().refresh_token)).statusCode, 401, "the successor does not refresh");
});

t.test("a grace replay whose answer is built after a user-wide revocation commits carries no token that outlives it", async (t) => {
  const [a, , c] = cluster.instances;
  const { user, sessions } = await loginSessions(a!, 1);
  cluster.toSecondBoundary(-50);
  const first = await refresh(a!, sessions[0]!.refresh);
  t.equal(first.statusCode, 200);

  // Interpose at the user store: the first user read the refresh makes after
  // its own work runs the revocation to completion first.
  let revoked: Promise<unknown> | undefined;
  const users = a!.services.users;
  const original = users.findById.bind(users);
  const revoke = () =>
    (revoked ??= c!.app.inject({
      method: "DELETE",
      url: `/admin/users/${user.id}/sessions`,
      headers: { authorization: cluster.admin.basic },
    }));
  users.findById = async (id) => {
    await revoke();
    return original(id);
  };
  t.teardown(() => void (users.findById = original));
  cluster.base.advance(80); // across the second boundary
  const replay = await refresh(a!, sessions[0]!.refresh);
  users.findById = original;
  t.equal(((await revoke()) as { statusCode: number }).statusCode, 204);
  const tokens = [sessions[0]!.access, first.json().access_token];
  if (replay.statusCode === 200) tokens.push(replay.json().access_token);
  await assertAllDead(t, tokens, "after admin revoke-all");
});

const ENDINGS = ["logout_all", "admin_disable", "admin_revoke_all", "password", "session"] as const;
type Ending = (typeof ENDINGS)[number];

async function end(kind: Ending, app: TestApp, userId: string, s: Session): Promise<number> {
  const admin = { authorization: cluster.admin.basic };
  const inject = (method: "POST" | "PATCH" | "DELETE", url: string, payload?: object, headers: Record<string, string> = admin) =>
    app.app.inject({ method, url, headers, ...(payload ? { payload } : {}) }).then((r) => r.statusCode);
  switch (kind) {
    case "logout_all":
      return inject("POST", "/logout", { all: true }, bearer(s.access));
    case "admin_disable":
      return inject("PATCH", `/admin/users/${userId}`, { disabled: true });
    case "admin_revoke_all":
      return inject("DELETE", `/admin/users/${userId}/sessions`);
    case "password":
      return inject("PATCH", `/admin/users/${userId}`, { password: "another horse battery staple" });
    case "session":
      return inject("DELETE", `/admin/sessions/${s.sid}`);
  }
}

t.test("revocations racing refresh loops on other instances, many rounds at second boundaries", async (t) => {
  const rounds = Number(process.env.CONTENTION_ROUNDS ?? 20);
  const [a, b, c] = cluster.instances as unknown as [TestApp, TestApp, TestApp];
  let escaped = 0;
  let refreshedAfter = 0;
  for (let round = 0; round < rounds; round++) {
    const kind = ENDINGS[round % ENDINGS.length]!;
    const { user, sessions } = await loginSessions(a, 3);
    // Aim the round at a second boundary; skew the instances by up to ±300 ms.
    cluster.toSecondBoundary(-30 - (round % 7) * 10);
    for (const i of cluster.instances) i.clock.skewMs = Math.round((Math.random() - 0.5) * 600);
    const minted: string[] = sessions.map((s) => s.access);
    const targets = kind === "session" ? [sessions[0]!] : sessions;
    let answered = false;
    const loop = async (app: TestApp, s: Session) => {
      for (let i = 0; i < 30; i++) {
        const startedAfter = answered;
        const res = await refresh(app, s.refresh);
        cluster.base.advance(3);
        if (res.statusCode !== 200) return;
        const body = res.json();
        minted.push(body.access_token);
        s.refresh = body.refresh_token;
        s.access = body.access_token;
        if (startedAfter && targets.includes(s)) refreshedAfter++;
      }
    };
    const loops = sessions.map((s, i) => loop(i % 2 === 0 ? a : b, s));
    await new Promise((r) => setTimeout(r, 2 + (round % 5) * 3));
    const status = await end(kind, c, user.id, sessions[0]!);
    answered = true;
    t.equal(status, 204, `round ${round} (${kind}): the revocation answered`);
    await Promise.all(loops);
    const tokensOfEnded = kind === "session" ? minted.filter((tok) => sidOf(tok) === sessions[0]!.sid) : minted;
    for (const token of tokensOfEnded) {
      for (const app of cluster.instances) if (await isActive(app, cluster.introspector, token)) escaped++;
      if (!(await verifierRejects(verifier, token))) escaped++;
    }
  }
  t.equal(escaped, 0, "no token of an ended session was accepted by any instance or the verifier after the revocation answered");
  t.equal(refreshedAfter, 0, "no refresh that started after the revocation answered succeeded");
});

t.test("200 concurrent refreshes of one token over three instances converge on one chain with no 5xx", async (t) => {
  const [a] = cluster.instances;
  const { sessions } = await loginSessions(a!, 1);
  const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => refresh(cluster.instances[i % 3]!, sessions[0]!.refresh)));
  const statuses = new Map<number, number>();
  for (const r of answers) statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
  t.same([...statuses.keys()], [200], `every answer is 200 (${JSON.stringify([...statuses])})`);
  const successors = new Set(answers.filter((r) => r.statusCode === 200).map((r) => r.json().refresh_token));
  t.equal(successors.size, 1, "one successor for all of them");
  const next = await refresh(a!, [...successors][0]);
  t.equal(next.statusCode, 200, "the chain goes on");
});

t.test("retries that arrived within the grace but were processed after it converge instead of revoking", async (t) => {
  const [a] = cluster.instances;
  const { sessions } = await loginSessions(a!, 1);
  const blocker = await sqlClient(t, cluster.url);
  await blocker.query("BEGIN");
  await blocker.query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", [sessions[0]!.sid]);
  // 40 parallel retries arrive together and queue behind the held lock, one attempt per instance.
  const pending = Array.from({ length: 40 }, (_, i) => refresh(cluster.instances[i % 3]!, sessions[0]!.refresh));
  await lockWaiters(blocker, 3);
  cluster.base.advance(5_000); // processed well after the 3 s grace
  await blocker.query("COMMIT");
  const answers = await Promise.all(pending);
  t.same([...new Set(answers.map((r) => r.statusCode))], [200], "every retry converged");
  t.equal(new Set(answers.map((r) => r.json().refresh_token)).size, 1, "on one successor");
  const session = await cluster.instances[0]!.services.sessionStore.findSession(sessions[0]!.sid);
  t.equal(session?.revokedAt, null, "the session was not revoked as a theft");
});

function sidOf(token: string): string {
  return JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()).sid;
}
