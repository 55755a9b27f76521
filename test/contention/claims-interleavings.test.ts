// A claims change (SPEC §11) staged against a refresh at the one step where
// they meet: the session's row lock. Another connection holds the lock, both
// requests queue behind it in a chosen order, and Postgres itself shows them
// waiting before the lock is let go. Postgres only: embedded PGlite runs one
// statement at a time, so nothing can interleave there.
import pg from "pg";
import type { Test } from "tap";
import t from "tap";
import { testApp, type TestApp } from "../fixtures/app.js";
import { freshPostgres } from "../fixtures/database.js";
import { lockWaiters } from "../fixtures/lock-waiters.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";
import { verifierFor } from "../fixtures/verifier.js";

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));

interface Stage {
  ctx: TestApp;
  other: pg.Client;
  admin: TestClient;
  sibling: TestClient;
  user: { id: string; username: string; password: string };
  login: { access_token: string; refresh_token: string; session_id: string };
}

async function stage(t: Test): Promise<Stage> {
  const { url } = await freshPostgres(t);
  const ctx = await testApp(t, "postgres", { storage: { url } });
  const [admin, sibling] = await Promise.all([createClient(ctx.services, ["admin"]), createClient(ctx.services, ["introspect"])]);
  const user = await ctx.createUser();
  const set = (claims: Record<string, unknown>) =>
    ctx.app.inject({ method: "PATCH", url: `/admin/users/${user.id}`, headers: { authorization: admin.basic }, payload: { claims } });
  t.equal((await set({ role: "v0" })).statusCode, 204);
  const login = (await ctx.login(user.username, user.password)).json();
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.teardown(() => other.end());
  return { ctx, other, admin, sibling, user, login };
}

const patch = (s: Stage, role: string) =>
  s.ctx.app.inject({
    method: "PATCH",
    url: `/admin/users/${s.user.id}`,
    headers: { authorization: s.admin.basic },
    payload: { claims: { role } },
  });
const refresh = (s: Stage, token: string, ip?: string) =>
  s.ctx.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: token }, ...(ip ? { remoteAddress: ip } : {}) });
const introspect = async (s: Stage, token: string) =>
  (await s.ctx.app.inject({ method: "POST", url: "/introspect", headers: { authorization: s.sibling.basic }, payload: { token } })).json();

/** Holds the session's row lock on the other connection until `release`. */
async function holdSession(s: Stage): Promise<() => Promise<void>> {
  await s.other.query("BEGIN");
  await s.other.query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", [s.login.session_id]);
  return async () => {
    await s.other.query("COMMIT");
  };
}

// Both refresh paths: the one statement, and the locked path (an IP change sends it there).
for (const [path, ip] of [
  ["fast path", undefined],
  ["locked path", "198.51.100.9"],
] as const) {
  t.test(`a refresh queued before a claims change on the session's lock: its token, with the old claims, stops (${path})`, async (t) => {
    const s = await stage(t);
    const release = await holdSession(s);
    const renewing = refresh(s, s.login.refresh_token, ip);
    await lockWaiters(s.other, 1);
    const changing = patch(s, "v1");
    // The change holds the user's lock and waits for the session's, behind the refresh.
    await lockWaiters(s.other, 2);
    await release();
    const [renewed, changed] = await Promise.all([renewing, changing]);
    t.equal(renewed.statusCode, 200);
    t.equal(changed.statusCode, 204);
    const token = renewed.json().access_token as string;
    t.equal(claimsOf(token).role, "v0", "the refresh went first and read the old claims");
    t.same(await introspect(s, token), { active: false }, "so the change stops its token once it answered");
    const next = await refresh(s, renewed.json().refresh_token);
    t.equal(claimsOf(next.json().access_token).role, "v1", "the session lives on: the next refresh carries the new claims");
    t.match(await introspect(s, next.json().access_token), { active: true, role: "v1" });
  });

  t.test(`a refresh queued behind a claims change: its token carries the new claims and is live at once (${path})`, async (t) => {
    const s = await stage(t);
    const address = await s.ctx.app.listen({ host: "127.0.0.1", port: 0 });
    const { verifier } = await verifierFor(t, s.ctx, address, { clock: s.ctx.clock });
    await verifier.ready();
    const release = await holdSession(s);
    const changing = patch(s, "v1");
    await lockWaiters(s.other, 1);
    // The refresh statement's snapshot predates the change's commit: what it
    // reads of the user is old; only the session row it locks is new.
    const renewing = refresh(s, s.login.refresh_token, ip);
    await lockWaiters(s.other, 2);
    await release();
    const [changed, renewed] = await Promise.all([changing, renewing]);
    t.equal(changed.statusCode, 204);
    t.equal(renewed.statusCode, 200);
    const token = renewed.json().access_token as string;
    t.equal(claimsOf(token).role, "v1", "the refresh read the session row the change wrote");
    t.match(await introspect(s, token), { active: true, role: "v1" }, "and its token was lifted past the change");
    t.same((await verifier.verify(token, { transport: "header" })).claims, { role: "v1" }, "on the verifier too");
    t.same(await introspect(s, s.login.access_token), { active: false }, "the token from before the change stops");
    // Before the app's teardown: its close would wait for the verifier's open stream.
    await verifier.close();
  });
}

t.test("an issuance and a claims change of one user: one waits for the other, and the new session carries the new claims", async (t) => {
  const s = await stage(t);
  const issuer = await createClient(s.ctx.services, ["sessions:issue"]);
  await s.other.query("BEGIN");
  await s.other.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [s.user.id]);
  const changing = patch(s, "v1");
  await lockWaiters(s.other, 1);
  const issuing = s.ctx.app.inject({
    method: "POST",
    url: "/sessions",
    headers: { authorization: issuer.basic },
    payload: { subject: s.user.id, claims: { seat: "42" } },
  });
  await lockWaiters(s.other, 2);
  await s.other.query("COMMIT");
  const [changed, issued] = await Promise.all([changing, issuing]);
  t.equal(changed.statusCode, 204);
  t.equal(issued.statusCode, 200);
  const token = issued.json().access_token as string;
  t.match(claimsOf(token), { role: "v1", seat: "42" }, "issued after the change: the user's new claims under the user's lock");
  t.match(await introspect(s, token), { active: true, role: "v1" }, "and live");
});
