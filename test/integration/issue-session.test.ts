import { randomUUID } from "node:crypto";
import pg from "pg";
import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";
import { freshPostgres } from "../fixtures/database.js";
import { lockWaiters } from "../fixtures/lock-waiters.js";
import { createClient } from "../fixtures/service-client.js";

for (const mode of MODES) {
  t.test(`${mode}: an upstream identity service issues a session for an existing user`, async (t) => {
    const ctx = await testApp(t, mode);
    const issuer = await createClient(ctx.services, ["sessions:issue"]);
    const user = await ctx.createUser();
    const issue = (payload: Record<string, unknown>) =>
      ctx.app.inject({ method: "POST", url: "/sessions", headers: { authorization: issuer.basic }, payload });

    const res = await issue({ subject: user.id, user_agent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", ip: "203.0.113.7" });
    t.equal(res.statusCode, 200);
    t.equal(res.headers["cache-control"], "no-store");
    const body = res.json();
    t.match(body, {
      token_type: "Bearer",
      expires_in: 600,
      refresh_expires_in: 7 * 86400,
      session_id: String,
      access_token: String,
      refresh_token: String,
    });

    const sessions = await ctx.app.inject({ url: "/sessions", headers: { authorization: `Bearer ${body.access_token}` } });
    t.equal(sessions.statusCode, 200, "the issued access token works on the user's own endpoints");
    t.match(sessions.json().sessions[0], { id: body.session_id, created_ip: "203.0.113.7", device: { browser: "Firefox" }, current: true });
    const audit = await ctx.services.db.prisma.auditEvent.findFirst({ where: { type: "session_issued", sessionId: body.session_id } });
    t.equal(audit?.actor, `client:${issuer.id}`);

    const cookie = await issue({ subject: user.id, transport: "cookie" });
    t.equal(cookie.statusCode, 200);
    t.same(cookie.cookies, [], "no cookies: they would land on the caller's origin, not the browser's");
    const cookieTokens = cookie.json();
    t.type(cookieTokens.access_token, "string", "the caller gets the tokens to place in the cookies itself");
    const viaHeader = await ctx.app.inject({ url: "/sessions", headers: { authorization: `Bearer ${cookieTokens.access_token}` } });
    t.equal(viaHeader.json().error, "transport_mismatch", "a cookie session's token stays bound to cookies");
    const viaCookie = await ctx.app.inject({ url: "/sessions", cookies: { sa_access: cookieTokens.access_token } });
    t.equal(viaCookie.statusCode, 200);

    const unknown = await issue({ subject: "00000000-0000-4000-8000-000000000000" });
    t.equal(unknown.statusCode, 404);
    t.equal(unknown.json().error, "not_found");
    for (const bad of [
      {},
      { subject: "not-a-uuid" },
      { subject: user.id, transport: "pigeon" },
      { subject: user.id, ip: "999.1.1.1" },
      { subject: user.id, extra: 1 },
    ]) {
      const r = await issue(bad);
      t.equal(r.statusCode, 400, JSON.stringify(bad));
    }
  });
}

for (const mode of MODES) {
  t.test(`${mode}: concurrent issuance for one user never passes the cap, and each eviction is named and audited once`, async (t) => {
    const ctx = await testApp(t, mode, { env: { MAX_SESSIONS_PER_USER: "3" } });
    const issuer = await createClient(ctx.services, ["sessions:issue"]);
    const user = await ctx.createUser();
    const results = await Promise.all(
      Array.from({ length: 12 }, () =>
        ctx.app.inject({ method: "POST", url: "/sessions", headers: { authorization: issuer.basic }, payload: { subject: user.id } }),
      ),
    );
    t.same([...new Set(results.map((r) => r.statusCode))], [200], "every issuance succeeds: the new session wins");
    const { prisma } = ctx.services.db;
    t.equal(await prisma.session.count({ where: { userId: user.id, revokedAt: null } }), 3, "exactly the cap is live");
    const evicted = results.flatMap((r) => (r.json().evicted_session_ids ?? []) as string[]);
    t.equal(evicted.length, 9, "the other nine were evicted");
    t.equal(new Set(evicted).size, 9, "each by exactly one answer");
    t.equal(await prisma.session.count({ where: { userId: user.id, revokedReason: "evicted" } }), 9);
    t.equal(await prisma.auditEvent.count({ where: { userId: user.id, type: "session_evicted" } }), 9, "each eviction audited once");
    t.equal(await prisma.auditEvent.count({ where: { userId: user.id, type: "session_issued" } }), 12, "each issuance audited once");
    t.equal(await prisma.refreshToken.count({ where: { session: { userId: user.id } } }), 12, "one refresh token per session");
  });

  t.test(`${mode}: issuance for a disabled user is 403 and writes nothing`, async (t) => {
    const ctx = await testApp(t, mode);
    const issuer = await createClient(ctx.services, ["sessions:issue"]);
    const user = await ctx.createUser();
    await ctx.services.db.prisma.user.update({ where: { id: user.id }, data: { disabled: true } });
    const res = await ctx.app.inject({
      method: "POST",
      url: "/sessions",
      headers: { authorization: issuer.basic },
      payload: { subject: user.id },
    });
    t.equal(res.statusCode, 403);
    t.equal(res.json().error, "forbidden");
    t.equal(await ctx.services.db.prisma.session.count({ where: { userId: user.id } }), 0);
    t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { userId: user.id, type: "session_issued" } }), 0);
  });
}

// Postgres only: another connection holds the user's row lock and adds a
// session while an issuance waits for that lock (embedded PGlite runs one
// statement at a time). The issuance must count under the lock, after the
// other commit: the one-call issuance locks the user, then counts in a
// statement of its own (sa_issue_session).
t.test("postgres: an issuance waiting for the user's lock counts the session committed before it got the lock", async (t) => {
  const { url } = await freshPostgres(t);
  const ctx = await testApp(t, "postgres", { storage: { url }, env: { MAX_SESSIONS_PER_USER: "2" } });
  const user = await ctx.createUser();
  const first = (await ctx.login(user.username, user.password)).json();
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.teardown(() => other.end());

  const now = ctx.clock.now();
  const later = new Date(now.getTime() + 3_600_000);
  await other.query("BEGIN");
  await other.query("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", [user.id]);
  await other.query(
    `INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at, access_expires_at)
     VALUES ($1, $2, 'bearer', $3, $3, $4, $4, $4)`,
    [randomUUID(), user.id, now, later],
  );
  const pending = ctx.services.sessions.issue(
    { subject: { userId: user.id }, clientId: "default", transport: "bearer", authentication: { authTime: now, amr: [], acr: null } },
    { ip: null, userAgent: null },
    { type: "login", actor: "test" },
  );
  let done = false;
  void pending.then(
    () => (done = true),
    () => (done = true),
  );
  await lockWaiters(other);
  t.equal(done, false, "the issuance waits for the user's lock");
  await other.query("COMMIT");
  const issued = await pending;

  t.same(issued.evictedSessionIds, [first.session_id], "at the cap once the other session committed: the oldest is evicted");
  const live = await ctx.services.db.prisma.session.count({ where: { userId: user.id, revokedAt: null } });
  t.equal(live, 2, "never above MAX_SESSIONS_PER_USER");
});
