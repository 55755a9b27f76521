import t from "tap";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { expectedEffect, liveSessionsOf, seedAppSessions } from "../fixtures/app-sessions.js";
import { MINUTE, SECOND } from "../fixtures/clock.js";
import { basicAuth, createClient, type TestClient } from "../fixtures/service-client.js";
import { verifierFor } from "../fixtures/verifier.js";

const ADMIN = { id: "test-admin", secret: "test-admin-secret-0123456789" };
const admin = { authorization: basicAuth(ADMIN.id, ADMIN.secret) };
const env = { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret };

const q = (ctx: TestApp, text: string, values: unknown[] = []) =>
  ctx.services.db.sql.query<Record<string, unknown>>({ text, values, name: "" });

async function createApp(ctx: TestApp, id: string, policy: Record<string, unknown> = {}) {
  const res = await ctx.app.inject({ method: "POST", url: "/admin/applications", headers: admin, payload: { id, name: id, policy } });
  if (res.statusCode !== 201) throw new Error(res.body);
}

/** A session of application `app`, issued by /login. */
async function loginTo(ctx: TestApp, app: string, user: { username: string; password: string }) {
  const res = await ctx.login(user.username, user.password, { client_id: app });
  if (res.statusCode !== 200) throw new Error(res.body);
  return res.json() as { access_token: string; refresh_token: string; session_id: string };
}

const active = async (ctx: TestApp, client: TestClient, token: string) =>
  (await ctx.app.inject({ method: "POST", url: "/introspect", headers: { authorization: client.basic }, payload: { token } })).json()
    .active;

for (const mode of MODES) {
  t.test(`${mode}: a policy change ends, shortens and cuts live sessions at once, as its dry run said`, async (t) => {
    const ctx = await testApp(t, mode, { env });
    const { app, clock } = ctx;
    const client = await createClient(ctx.services, ["introspect"]);
    await createApp(ctx, "web");
    await createApp(ctx, "ios");
    const [a, b, c, other] = [await ctx.createUser(), await ctx.createUser(), await ctx.createUser(), await ctx.createUser()];

    const idle = await loginTo(ctx, "web", a); // last seen 4 minutes before the change
    clock.advance(3 * MINUTE);
    const b1 = await loginTo(ctx, "web", b);
    clock.advance(SECOND);
    const b2 = await loginTo(ctx, "web", b);
    clock.advance(SECOND);
    const b3 = await loginTo(ctx, "web", b);
    const kept = await loginTo(ctx, "web", c);
    const elsewhere = await loginTo(ctx, "ios", other);
    clock.advance(MINUTE);

    const policy = { access_token_ttl: "1m", refresh_token_ttl: "2m", max_sessions_per_user: 1 };
    const dry = await app.inject({ method: "POST", url: "/admin/applications/web/policy/dry-run", headers: admin, payload: { policy } });
    t.equal(dry.statusCode, 200, dry.body);
    t.match(dry.json(), { sessions_ended: 3, sessions_shortened: 2, users_over_limit: 1 });
    t.same(new Set(dry.json().sample), new Set([idle.session_id, b1.session_id, b2.session_id, b3.session_id, kept.session_id]));
    t.same(dry.json().sample.slice(0, 3).sort(), [idle.session_id, b1.session_id, b2.session_id].sort(), "ended ones first");
    for (const s of [idle, b1, b2, b3, kept]) t.equal(await active(ctx, client, s.access_token), true, "the dry run changed nothing");

    const patched = await app.inject({ method: "PATCH", url: "/admin/applications/web", headers: admin, payload: { policy } });
    t.equal(patched.statusCode, 200, patched.body);
    t.same(patched.json().policy_effect, dry.json(), "the change did what its dry run said");

    for (const s of [idle, b1, b2]) {
      t.equal(await active(ctx, client, s.access_token), false, "an ended session's access token is inactive at once");
      t.equal(await active(ctx, client, s.refresh_token), false, "and its refresh token");
      const refreshed = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: s.refresh_token } });
      t.equal(refreshed.statusCode, 401, "an ended session cannot refresh");
    }
    const reasons = await q(ctx, "SELECT id, revoked_reason, revoked_by FROM sessions WHERE revoked_at IS NOT NULL ORDER BY id");
    t.same(reasons.map((r) => r.id).sort(), [idle.session_id, b1.session_id, b2.session_id].sort());
    t.ok(
      reasons.every((r) => r.revoked_reason === "policy" && r.revoked_by === `client:${ADMIN.id}`),
      "reason policy, by the admin",
    );

    for (const s of [b3, kept]) {
      t.equal(await active(ctx, client, s.access_token), false, "a kept session's earlier access token outlived the new limit: inactive");
      t.equal(await active(ctx, client, s.refresh_token), true, "the session lives on");
    }
    t.equal(await active(ctx, client, elsewhere.access_token), true, "another application's sessions are untouched");
    const [row] = await q(ctx, "SELECT idle_ttl_ms, access_ttl_ms, idle_expires_at FROM sessions WHERE id = $1::uuid", [kept.session_id]);
    t.equal(Number(row!.idle_ttl_ms), 2 * MINUTE, "the new lifetimes are on the row");
    t.equal(Number(row!.access_ttl_ms), MINUTE);
    t.equal(
      (row!.idle_expires_at as Date).getTime(),
      clock.now().getTime() - MINUTE + 2 * MINUTE,
      "idle expiry = last seen + the new idle lifetime",
    );

    // In the change's own second too: the refresh lifts iat past the entry (tokens_not_before).
    const next = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: kept.refresh_token } });
    t.equal(next.statusCode, 200, next.body);
    t.equal(await active(ctx, client, next.json().access_token), true, "a token issued after the change is fine, in its second too");

    const audit = (await app.inject({ url: "/admin/audit?type=application_updated", headers: admin })).json().events[0];
    t.match(audit.detail, {
      application_id: "web",
      before: { policy: {} },
      after: { policy: { access_token_ttl: 60, refresh_token_ttl: 120, max_sessions_per_user: 1 } },
      effect: dry.json(),
    });
    const revokedEvents = (await app.inject({ url: "/admin/audit?type=session_revoked", headers: admin })).json().events;
    t.equal(
      revokedEvents.filter((e: { detail: { reason: string } }) => e.detail.reason === "policy").length,
      3,
      "one event per ended session",
    );
  });

  t.test(`${mode}: a shortened access lifetime stops earlier tokens at a verifier too; later ones pass`, async (t) => {
    const ctx = await testApp(t, mode, { env });
    const address = await ctx.app.listen({ host: "127.0.0.1", port: 0 });
    const { verifier } = await verifierFor(t, ctx, address, { clock: ctx.clock });
    await createApp(ctx, "web");
    const s = await loginTo(ctx, "web", await ctx.createUser());
    await verifier.ready();
    t.match(await verifier.verify(s.access_token, { transport: "header" }), { sid: s.session_id });
    const patched = await ctx.app.inject({
      method: "PATCH",
      url: "/admin/applications/web",
      headers: admin,
      payload: { policy: { access_token_ttl: 30 } },
    });
    t.match(patched.json().policy_effect, { sessions_ended: 0, sessions_shortened: 1 });
    await t.rejects(
      eventually(() => verifier.verify(s.access_token, { transport: "header" }).then(() => Promise.reject(new Error("still accepted")))),
      { name: "TokenRevokedError" },
      "the verifier rejects the earlier token",
    );
    const next = (await ctx.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: s.refresh_token } })).json();
    t.match(
      await verifier.verify(next.access_token, { transport: "header" }),
      { sid: s.session_id },
      "a later token passes, in the same second",
    );
  });

  t.test(`${mode}: taking a transport away ends the application's sessions of it, and only those`, async (t) => {
    const ctx = await testApp(t, mode, { env });
    const client = await createClient(ctx.services, ["introspect"]);
    await createApp(ctx, "web");
    await createApp(ctx, "ios");
    const user = await ctx.createUser();
    const cookie = await ctx.login(user.username, user.password, { client_id: "web", transport: "cookie" });
    t.equal(cookie.statusCode, 200);
    const cookieSession = cookie.json().session_id as string;
    const bearer = await loginTo(ctx, "web", user);
    const otherApp = await ctx.login(user.username, user.password, { client_id: "ios", transport: "cookie" });
    const patched = await ctx.app.inject({
      method: "PATCH",
      url: "/admin/applications/web",
      headers: admin,
      payload: { transports: ["bearer"] },
    });
    t.equal(patched.statusCode, 200, patched.body);
    t.match(patched.json().policy_effect, { sessions_ended: 1 }, "the change reports what it ended");
    const rows = await q(ctx, "SELECT id, revoked_reason FROM sessions WHERE user_id = $1::uuid AND revoked_at IS NOT NULL", [user.id]);
    t.same(rows, [{ id: cookieSession, revoked_reason: "policy" }], "the cookie session of web ended, reason policy");
    t.equal(await active(ctx, client, bearer.access_token), true, "its bearer session lives on");
    const otherSession = otherApp.json().session_id as string;
    t.notOk(
      rows.some((r) => r.id === otherSession),
      "another application's cookie session is untouched",
    );
    const renamed = await ctx.app.inject({ method: "PATCH", url: "/admin/applications/web", headers: admin, payload: { name: "Web" } });
    t.notOk("policy_effect" in renamed.json(), "a change that reaches no session applies to none");
  });

  t.test(`${mode}: deleting an application revokes its sessions (reason admin)`, async (t) => {
    const ctx = await testApp(t, mode, { env });
    const client = await createClient(ctx.services, ["introspect"]);
    await createApp(ctx, "web");
    const s = await loginTo(ctx, "web", await ctx.createUser());
    const keep = (await ctx.login((await ctx.createUser()).username, "correct horse battery staple")).json();
    t.equal((await ctx.app.inject({ method: "DELETE", url: "/admin/applications/web", headers: admin })).statusCode, 204);
    t.equal(await active(ctx, client, s.access_token), false);
    t.equal(await active(ctx, client, keep.access_token), true, "the default application's session lives on");
    const [row] = await q(ctx, "SELECT revoked_reason FROM sessions WHERE id = $1::uuid", [s.session_id]);
    t.equal(row!.revoked_reason, "admin");
  });
}

t.test("on 6000 sessions of 3 applications, the dry run's counts are what the change then does, and what SPEC §10 says", async (t) => {
  // Batches of about 300 sessions: the change and its dry run walk x's 2000 in several transactions.
  const ctx = await testApp(t, "postgres", { env, serviceOptions: { policyBatchSize: 300 } });
  const now = ctx.clock.now();
  for (const id of ["x", "y", "z"]) {
    await createApp(ctx, id);
    await seedAppSessions(ctx.services.db.sql, { tag: "dry", app: id, users: 300, sessions: 2000, now });
  }
  const before = await liveSessionsOf(ctx.services.db.sql, "x", now);
  const untouched = async () =>
    (await q(ctx, "SELECT count(*)::int AS n FROM sessions WHERE client_id <> 'x' AND revoked_at IS NULL"))[0]!.n;
  const othersBefore = await untouched();
  const policy = { access_token_ttl: "5m", refresh_token_ttl: "2d", session_max_lifetime: "10d", max_sessions_per_user: 3 };
  const expected = expectedEffect(before, { idleMs: 2 * 86_400_000, absMs: 10 * 86_400_000, accessMs: 5 * MINUTE, max: 3 }, now);
  t.ok(expected.ended.size > 100 && expected.shortened.size > 100 && expected.usersOverLimit > 10, "the data set exercises every rule");

  const dry = (
    await ctx.app.inject({ method: "POST", url: "/admin/applications/x/policy/dry-run", headers: admin, payload: { policy } })
  ).json();
  t.same(dry.sample.length, 20);
  t.match(dry, {
    sessions_ended: expected.ended.size,
    sessions_shortened: expected.shortened.size,
    users_over_limit: expected.usersOverLimit,
  });
  t.equal((await liveSessionsOf(ctx.services.db.sql, "x", now)).length, before.length, "the dry run ended nothing");

  const done = (await ctx.app.inject({ method: "PATCH", url: "/admin/applications/x", headers: admin, payload: { policy } })).json();
  t.same(done.policy_effect, dry, "the change's counts equal its dry run's");
  const ended = await q(ctx, "SELECT id FROM sessions WHERE client_id = 'x' AND revoked_reason = 'policy'");
  t.same(new Set(ended.map((r) => r.id)), expected.ended, "exactly the sessions the rule names were ended");
  const cut = await q(ctx, "SELECT subject FROM revocations WHERE kind = 'sid' AND not_before IS NOT NULL");
  t.same(
    new Set(cut.map((r) => r.subject)),
    expected.cut,
    "and the kept sessions whose access token outlived the limit got a not_before entry",
  );
  t.equal(await untouched(), othersBefore, "y and z were not touched");

  const violations = await q(
    ctx,
    `SELECT count(*)::int AS n FROM sessions s
     WHERE s.client_id = 'x' AND s.revoked_at IS NULL AND s.idle_expires_at > $1::timestamptz AND s.absolute_expires_at > $1::timestamptz
       AND (s.absolute_expires_at > s.created_at + interval '10 days' OR s.idle_expires_at > s.last_seen_at + interval '2 days'
            OR (SELECT count(*) FROM sessions o WHERE o.client_id = 'x' AND o.user_id = s.user_id AND o.revoked_at IS NULL
                  AND o.idle_expires_at > $1::timestamptz AND o.absolute_expires_at > $1::timestamptz) > 3)`,
    [now],
  );
  t.equal(violations[0]!.n, 0, "no session of x violates the new policy");
});

async function eventually<T>(fn: () => Promise<T>, ms = 5000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until || (err instanceof Error && err.message !== "still accepted")) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
