// SPEC §10: every session belongs to an application and follows its policy.
// For each policy field, a session of an application that sets it follows
// it on every path (login, POST /sessions, the fast and the locked refresh,
// introspection, the verifier), and a default session beside it keeps the
// service-wide defaults. Applications are inserted as rows, then the cache
// reloaded (the admin API is built separately).
import type { LightMyRequestResponse } from "fastify";
import t, { type Test } from "tap";
import { MODES, testApp, type Mode, type TestApp } from "../fixtures/app.js";
import { DAY, MINUTE, SECOND } from "../fixtures/clock.js";
import { startCluster } from "../fixtures/cluster.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";
import { verifierFor } from "../fixtures/verifier.js";

const UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const OTHER_BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36";
const IP = "203.0.113.10";
const OTHER_IP = "198.51.100.20";

type PolicyColumns = {
  accessTokenTtlMs?: bigint;
  refreshTokenTtlMs?: bigint;
  sessionMaxLifetimeMs?: bigint;
  maxSessionsPerUser?: number;
  onLimit?: string;
  refreshReuseGraceMs?: bigint;
  deviceChangePolicy?: string;
};

interface Ctx extends TestApp {
  issuer: TestClient;
  introspector: TestClient;
  user: { id: string; username: string; password: string };
  /** POST /login for the user, optionally naming an application. */
  signIn(clientId?: string, extra?: Record<string, unknown>): Promise<LightMyRequestResponse>;
  /** POST /sessions for the user, optionally naming an application. */
  issue(clientId?: string, extra?: Record<string, unknown>): Promise<LightMyRequestResponse>;
  /** POST /refresh from the user's usual device, or another IP (the locked path) or browser. */
  refresh(token: string, from?: { ip?: string; ua?: string }): Promise<LightMyRequestResponse>;
  introspect(token: string): Promise<Record<string, unknown>>;
}

async function setup(t: Test, mode: Mode, env: Record<string, string> = {}): Promise<Ctx> {
  const ctx = await testApp(t, mode, { env });
  const issuer = await createClient(ctx.services, ["sessions:issue"]);
  const introspector = await createClient(ctx.services, ["introspect"]);
  const user = await ctx.createUser();
  const headers = { "user-agent": UA };
  return {
    ...ctx,
    issuer,
    introspector,
    user,
    signIn: (clientId, extra = {}) =>
      ctx.app.inject({
        method: "POST",
        url: "/login",
        remoteAddress: IP,
        headers,
        payload: { username: user.username, password: user.password, ...(clientId ? { client_id: clientId } : {}), ...extra },
      }),
    issue: (clientId, extra = {}) =>
      ctx.app.inject({
        method: "POST",
        url: "/sessions",
        headers: { authorization: issuer.basic },
        payload: { subject: user.id, user_agent: UA, ip: IP, ...(clientId ? { client_id: clientId } : {}), ...extra },
      }),
    refresh: (token, from = {}) =>
      ctx.app.inject({
        method: "POST",
        url: "/refresh",
        remoteAddress: from.ip ?? IP,
        headers: { "user-agent": from.ua ?? UA },
        payload: { refresh_token: token },
      }),
    async introspect(token) {
      const res = await ctx.app.inject({
        method: "POST",
        url: "/introspect",
        headers: { authorization: introspector.basic },
        payload: { token },
      });
      return res.json();
    },
  };
}

/** Inserts an application row and reloads the cache, as an admin write would. */
async function createApplication(ctx: TestApp, id: string, policy: PolicyColumns, transports = ["bearer", "cookie"]): Promise<void> {
  await ctx.services.db.prisma.application.create({ data: { id, name: `App ${id}`, transports, ...policy } });
  await ctx.services.applications.reload();
}

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));

const ok = (t: Test, res: LightMyRequestResponse, what: string) => {
  t.equal(res.statusCode, 200, `${what}: ${res.statusCode === 200 ? "ok" : res.body}`);
  return res.json();
};

for (const mode of MODES) {
  t.test(`${mode}: client_id names the application; absent is default, unknown 401, a disallowed transport 400`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "ios.app", {}, ["bearer"]);

    const plain = ok(t, await ctx.signIn(), "login without client_id");
    t.equal(claimsOf(plain.access_token).client_id, "default", "absent: the default application");
    const ios = ok(t, await ctx.signIn("ios.app"), "login naming ios.app");
    t.equal(claimsOf(ios.access_token).client_id, "ios.app", "RFC 9068 client_id claim");
    const issued = ok(t, await ctx.issue("ios.app"), "POST /sessions naming ios.app");
    t.equal(claimsOf(issued.access_token).client_id, "ios.app");
    const issuedDefault = ok(t, await ctx.issue(), "POST /sessions without client_id");
    t.equal(claimsOf(issuedDefault.access_token).client_id, "default");

    for (const [what, res] of [
      ["login, unknown", await ctx.signIn("nope")],
      ["login, not an application id", await ctx.signIn("Not An Id!")],
      ["POST /sessions, unknown", await ctx.issue("nope")],
    ] as const) {
      t.equal(res.statusCode, 401, what);
      t.equal(res.json().error, "invalid_client", what);
    }
    for (const [what, res] of [
      ["login", await ctx.signIn("ios.app", { transport: "cookie" })],
      ["POST /sessions", await ctx.issue("ios.app", { transport: "cookie" })],
    ] as const) {
      t.equal(res.statusCode, 400, `${what}: ios.app allows bearer only`);
      t.equal(res.json().error, "invalid_request");
    }

    // With client_secret_post the body's client_id is the caller's credential, and the session is default's.
    const post = await ctx.app.inject({
      method: "POST",
      url: "/sessions",
      payload: { subject: ctx.user.id, client_id: ctx.issuer.id, client_secret: ctx.issuer.secret },
    });
    t.equal(claimsOf(ok(t, post, "client_secret_post").access_token).client_id, "default");

    const refreshed = ok(t, await ctx.refresh(ios.refresh_token), "fast refresh");
    t.equal(claimsOf(refreshed.access_token).client_id, "ios.app", "a refreshed token keeps the application");
    const locked = ok(t, await ctx.refresh(refreshed.refresh_token, { ip: OTHER_IP }), "locked refresh");
    t.equal(claimsOf(locked.access_token).client_id, "ios.app");
    t.match(await ctx.introspect(locked.access_token), { active: true, client_id: "ios.app" }, "introspection of an access token");
    t.match(await ctx.introspect(locked.refresh_token), { active: true, client_id: "ios.app" }, "introspection of a refresh token");
    t.match(await ctx.introspect(plain.access_token), { active: true, client_id: "default" });

    const listing = await ctx.app.inject({ url: "/sessions", headers: { authorization: `Bearer ${locked.access_token}` } });
    const byId = new Map((listing.json().sessions as Array<{ id: string; client_id: string }>).map((s) => [s.id, s.client_id]));
    t.equal(byId.get(ios.session_id), "ios.app", "GET /sessions names each session's application");
    t.equal(byId.get(plain.session_id), "default");
    const admin = await createClient(ctx.services, ["admin"]);
    const view = await ctx.app.inject({ url: `/admin/sessions/${ios.session_id}`, headers: { authorization: admin.basic } });
    t.equal(view.json().session.client_id, "ios.app", "the admin view too");

    const audit = await ctx.services.db.prisma.auditEvent.findMany({ where: { sessionId: ios.session_id }, orderBy: { id: "asc" } });
    t.same(
      audit.map((e) => [e.type, (e.detail as { client_id?: string }).client_id]),
      [
        ["login_success", "ios.app"],
        ["refresh", "ios.app"],
        ["device_change", "ios.app"],
        ["refresh", "ios.app"],
      ],
      "every audit row of the session names its application",
    );

    const address = await ctx.app.listen({ host: "127.0.0.1", port: 0 });
    const { verifier } = await verifierFor(t, ctx, address, { clock: ctx.clock });
    await verifier.ready();
    t.equal((await verifier.verify(locked.access_token, { transport: "header" })).client_id, "ios.app", "the verifier's claims");
    t.equal((await verifier.verify(plain.access_token, { transport: "header" })).client_id, "default");
  });

  t.test(`${mode}: access_token_ttl: the application's tokens live that long on every path, default's keep ACCESS_TOKEN_TTL`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "short", { accessTokenTtlMs: 120_000n });
    const lifetime = (token: string) => {
      const c = claimsOf(token) as { iat: number; exp: number };
      return c.exp - c.iat;
    };
    const paths = async (clientId?: string) => {
      const login = ok(t, await ctx.signIn(clientId), "login");
      const issued = ok(t, await ctx.issue(clientId), "POST /sessions");
      const fast = ok(t, await ctx.refresh(login.refresh_token), "fast refresh");
      const locked = ok(t, await ctx.refresh(fast.refresh_token, { ip: OTHER_IP }), "locked refresh");
      return { login, issued, fast, locked };
    };
    const app = await paths("short");
    const dflt = await paths();
    for (const [path, want, got] of [
      ["login", 120, app.login],
      ["POST /sessions", 120, app.issued],
      ["fast refresh", 120, app.fast],
      ["locked refresh", 120, app.locked],
      ["default login", 600, dflt.login],
      ["default POST /sessions", 600, dflt.issued],
      ["default fast refresh", 600, dflt.fast],
      ["default locked refresh", 600, dflt.locked],
    ] as const) {
      t.equal(got.expires_in, want, `${path}: expires_in`);
      t.equal(lifetime(got.access_token), want, `${path}: exp - iat`);
    }
    const session = await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: app.login.session_id } });
    t.equal(session.deviceFlagged, true, "the IP change took the locked path");
    const seen = (await ctx.introspect(app.locked.access_token)) as { exp: number; iat: number };
    t.equal(seen.exp - seen.iat, 120, "introspection reports the application's lifetime");

    const address = await ctx.app.listen({ host: "127.0.0.1", port: 0 });
    const { verifier } = await verifierFor(t, ctx, address, { clock: ctx.clock });
    await verifier.ready();
    const verified = await verifier.verify(app.locked.access_token, { transport: "header" });
    t.equal(verified.exp - verified.iat, 120, "the verifier sees the application's lifetime");
    ctx.clock.advance(121 * SECOND);
    t.equal((await ctx.introspect(app.fast.access_token)).active, false, "past 120 s the application's token is inactive");
    t.equal((await ctx.introspect(dflt.fast.access_token)).active, true, "default's is still active");
    await t.rejects(verifier.verify(app.locked.access_token, { transport: "header" }), { code: "invalid_token" }, "the verifier: expired");
  });

  t.test(`${mode}: refresh_token_ttl: the application's idle lifetime slides on every refresh path, default's keeps 7 days`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "idle", { refreshTokenTtlMs: BigInt(60 * MINUTE) });
    const app = ok(t, await ctx.signIn("idle"), "login");
    const dflt = ok(t, await ctx.signIn(), "default login");
    t.equal(app.refresh_expires_in, 3600, "login: the application's idle lifetime");
    t.equal(dflt.refresh_expires_in, 7 * 86400, "default: REFRESH_TOKEN_TTL");
    t.equal(ok(t, await ctx.issue("idle"), "POST /sessions").refresh_expires_in, 3600, "POST /sessions");

    ctx.clock.advance(40 * MINUTE);
    const fast = ok(t, await ctx.refresh(app.refresh_token), "fast refresh");
    t.equal(fast.refresh_expires_in, 3600, "the fast path slides by the session's own idle lifetime");
    const dfast = ok(t, await ctx.refresh(dflt.refresh_token), "default fast refresh");
    t.equal(dfast.refresh_expires_in, 7 * 86400);
    const introspected = (await ctx.introspect(fast.refresh_token)) as { exp: number };
    t.equal(introspected.exp, Math.floor(ctx.clock.now().getTime() / 1000) + 3600, "introspection: the refresh token's expiry");

    ctx.clock.advance(40 * MINUTE); // past the first idle expiry: only the slide keeps it alive
    const locked = ok(t, await ctx.refresh(fast.refresh_token, { ip: OTHER_IP }), "locked refresh");
    t.equal(locked.refresh_expires_in, 3600, "the locked path slides by it too");
    const dlocked = ok(t, await ctx.refresh(dfast.refresh_token, { ip: OTHER_IP }), "default locked refresh");
    t.equal(dlocked.refresh_expires_in, 7 * 86400);

    ctx.clock.advance(61 * MINUTE);
    const late = await ctx.refresh(locked.refresh_token);
    t.equal(late.statusCode, 401, "idle past the application's lifetime: the session has ended");
    t.equal((await ctx.introspect(locked.refresh_token)).active, false);
    ok(t, await ctx.refresh(dlocked.refresh_token), "the default session idle as long is alive");
  });

  t.test(`${mode}: session_max_lifetime: no path extends an application's session past its wall`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "walled", { sessionMaxLifetimeMs: BigInt(120 * MINUTE), refreshTokenTtlMs: BigInt(60 * MINUTE) });
    const start = ctx.clock.now().getTime();
    const app = ok(t, await ctx.signIn("walled"), "login");
    const dflt = ok(t, await ctx.signIn(), "default login");
    const issued = ok(t, await ctx.issue("walled"), "POST /sessions");
    const listing = await ctx.app.inject({ url: "/sessions", headers: { authorization: `Bearer ${app.access_token}` } });
    const walls = new Map(
      (listing.json().sessions as Array<{ id: string; absolute_expires_at: string }>).map((s) => [s.id, Date.parse(s.absolute_expires_at)]),
    );
    t.equal(walls.get(app.session_id), start + 120 * MINUTE, "login: created + the application's maximum");
    t.equal(walls.get(issued.session_id), start + 120 * MINUTE, "POST /sessions too");
    t.equal(walls.get(dflt.session_id), start + 30 * DAY, "default: SESSION_MAX_LIFETIME");

    ctx.clock.advance(50 * MINUTE);
    const r1 = ok(t, await ctx.refresh(app.refresh_token), "fast refresh");
    const d1 = ok(t, await ctx.refresh(dflt.refresh_token), "default refresh");
    ctx.clock.advance(50 * MINUTE); // 20 minutes to the wall
    const r2 = ok(t, await ctx.refresh(r1.refresh_token, { ip: OTHER_IP }), "locked refresh");
    t.equal(r2.refresh_expires_in, 20 * 60, "the locked path caps the idle expiry at the wall");
    const d2 = ok(t, await ctx.refresh(d1.refresh_token, { ip: OTHER_IP }), "default locked refresh");
    ctx.clock.advance(15 * MINUTE); // 5 minutes to the wall
    const r3 = ok(t, await ctx.refresh(r2.refresh_token, { ip: OTHER_IP }), "fast refresh near the wall");
    t.equal(r3.refresh_expires_in, 5 * 60, "the fast path caps it too");
    t.equal(r3.expires_in, 5 * 60, "and the access token expires at the wall (SPEC §2)");
    const wall = Math.floor((start + 120 * MINUTE) / 1000);
    t.equal((claimsOf(r3.access_token) as { exp: number }).exp, wall);
    t.equal(((await ctx.introspect(r3.refresh_token)) as { exp: number }).exp, wall, "introspection too");

    ctx.clock.advance(6 * MINUTE);
    t.equal((await ctx.refresh(r3.refresh_token, { ip: OTHER_IP })).statusCode, 401, "past the wall: log in again");
    ok(t, await ctx.refresh(d2.refresh_token, { ip: OTHER_IP }), "the default session goes on");
  });

  t.test(`${mode}: max_sessions_per_user: the limit counts and evicts the application's sessions only`, async (t) => {
    const ctx = await setup(t, mode, { MAX_SESSIONS_PER_USER: "3" });
    await createApplication(ctx, "two", { maxSessionsPerUser: 2 });
    const defaults = [ok(t, await ctx.signIn(), "default 1"), ok(t, await ctx.signIn(), "default 2")];
    const a1 = ok(t, await ctx.signIn("two"), "app 1");
    const a2 = ok(t, await ctx.issue("two"), "app 2");
    t.notOk(a2.evicted_session_ids, "two sessions fit, whatever the user's other applications hold");
    const a3 = ok(t, await ctx.signIn("two"), "app 3 (login)");
    t.same(a3.evicted_session_ids, [a1.session_id], "login evicts the application's oldest");
    const a4 = ok(t, await ctx.issue("two"), "app 4 (POST /sessions)");
    t.same(a4.evicted_session_ids, [a2.session_id], "POST /sessions evicts the application's oldest");
    const d3 = ok(t, await ctx.signIn(), "default 3");
    t.notOk(d3.evicted_session_ids, "default's limit is MAX_SESSIONS_PER_USER, its own count");
    const d4 = ok(t, await ctx.signIn(), "default 4");
    t.same(d4.evicted_session_ids, [defaults[0]!.session_id], "and it evicts default's oldest only");
    const { prisma } = ctx.services.db;
    const live = await prisma.session.groupBy({ by: ["clientId"], where: { userId: ctx.user.id, revokedAt: null }, _count: true });
    t.same(Object.fromEntries(live.map((g) => [g.clientId, g._count])), { default: 3, two: 2 });
    t.equal((await ctx.introspect(a1.access_token)).active, false, "the evicted session's token is inactive");
    const evicted = await prisma.auditEvent.findFirst({ where: { type: "session_evicted", sessionId: a1.session_id } });
    t.match(evicted?.detail, { limit: 2, client_id: "two" }, "the eviction names the limit and the application");
  });

  t.test(`${mode}: on_limit deny: a login over the limit is 403 session_limit and nothing is revoked`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "strict", { maxSessionsPerUser: 1, onLimit: "deny" });
    const first = ok(t, await ctx.signIn("strict"), "first login");
    for (const [what, res] of [
      ["login", await ctx.signIn("strict")],
      ["POST /sessions", await ctx.issue("strict")],
    ] as const) {
      t.equal(res.statusCode, 403, what);
      t.same(res.json(), { error: "session_limit", error_description: res.json().error_description }, what);
    }
    const { prisma } = ctx.services.db;
    t.equal(await prisma.session.count({ where: { userId: ctx.user.id, clientId: "strict" } }), 1, "nothing was written");
    t.equal(await prisma.session.count({ where: { userId: ctx.user.id, revokedAt: { not: null } } }), 0, "nothing was revoked");
    t.equal(await prisma.auditEvent.count({ where: { userId: ctx.user.id, type: "session_denied" } }), 2, "each refusal is audited");
    const fast = ok(t, await ctx.refresh(first.refresh_token), "the kept session refreshes (fast)");
    ok(t, await ctx.refresh(fast.refresh_token, { ip: OTHER_IP }), "and on the locked path");
    t.equal((await ctx.introspect(fast.access_token)).active, true);
    for (let i = 0; i < 3; i++) ok(t, await ctx.signIn(), `default login ${i + 1}: evict_oldest under MAX_SESSIONS_PER_USER`);

    // Room again once the session ends.
    await ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${fast.access_token}` } });
    ok(t, await ctx.signIn("strict"), "after logout the application admits a new session");
  });

  t.test(`${mode}: refresh_reuse_grace: a late retry is reuse in the application, a replay in default`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "tight", { refreshReuseGraceMs: 1000n });
    for (const [via, issue] of [
      ["login", (c?: string) => ctx.signIn(c)],
      ["POST /sessions", (c?: string) => ctx.issue(c)],
    ] as const) {
      const app = ok(t, await issue("tight"), `${via}: app`);
      const dflt = ok(t, await issue(), `${via}: default`);
      const appNext = ok(t, await ctx.refresh(app.refresh_token), "first refresh (fast)");
      const dfltNext = ok(t, await ctx.refresh(dflt.refresh_token), "default first refresh");
      ctx.clock.advance(500);
      t.equal((await ctx.refresh(app.refresh_token)).json().refresh_token, appNext.refresh_token, `${via}: within 1 s: a replay`);
      ctx.clock.advance(4 * SECOND);
      const late = await ctx.refresh(app.refresh_token);
      t.equal(late.statusCode, 401, `${via}: 4.5 s after the rotation the application calls it reuse`);
      t.equal((await ctx.introspect(appNext.access_token)).active, false, "and its session is revoked");
      const replay = ok(t, await ctx.refresh(dflt.refresh_token), `${via}: default, 4.5 s later`);
      t.equal(replay.refresh_token, dfltNext.refresh_token, "default's 10 s grace replays the same successor");
    }
  });

  t.test(`${mode}: device_change_policy: the application's policy decides what a device change does`, async (t) => {
    const ctx = await setup(t, mode);
    await createApplication(ctx, "lenient", { deviceChangePolicy: "allow" });
    await createApplication(ctx, "paranoid", { deviceChangePolicy: "revoke" });
    const { prisma } = ctx.services.db;
    for (const [via, issue] of [
      ["login", (c?: string) => ctx.signIn(c)],
      ["POST /sessions", (c?: string) => ctx.issue(c)],
    ] as const) {
      const lenient = ok(t, await issue("lenient"), `${via}: lenient`);
      const paranoid = ok(t, await issue("paranoid"), `${via}: paranoid`);
      const dflt = ok(t, await issue(), `${via}: default`);

      const browser = { ua: OTHER_BROWSER_UA };
      const kept = await ctx.refresh(lenient.refresh_token, browser);
      t.equal(kept.statusCode, 200, `${via}: allow: a new browser family refreshes`);
      const row = await prisma.session.findUniqueOrThrow({ where: { id: lenient.session_id } });
      t.equal(row.deviceFlagged, false, "and is not flagged");
      t.equal((await ctx.introspect(kept.json().access_token)).active, true);
      t.equal((await ctx.refresh(dflt.refresh_token, browser)).statusCode, 401, `${via}: default revokes a new browser family`);

      const ipOnly = { ip: OTHER_IP };
      t.equal((await ctx.refresh(paranoid.refresh_token, ipOnly)).statusCode, 401, `${via}: revoke: even a new IP ends the session`);
      t.equal((await ctx.introspect(paranoid.access_token)).active, false);
      const again = ok(t, await issue(), `${via}: another default session`);
      ok(t, await ctx.refresh(again.refresh_token, ipOnly), `${via}: default only flags a new IP`);
      const flagged = await prisma.session.findUniqueOrThrow({ where: { id: again.session_id } });
      t.equal(flagged.deviceFlagged, true);
    }
  });
}

t.test("postgres, three instances: racing logins of two applications of one user never pass either application's limit", async (t) => {
  const cluster = await startCluster(t, 3, { RATE_LIMIT_LOGIN_PER_IP: "100000" });
  const [first] = cluster.instances;
  await first!.services.db.prisma.application.createMany({
    data: [
      { id: "evicting", name: "Evicting", transports: ["bearer"], maxSessionsPerUser: 2 },
      { id: "denying", name: "Denying", transports: ["bearer"], maxSessionsPerUser: 3, onLimit: "deny" },
    ],
  });
  await Promise.all(cluster.instances.map((i) => i.services.applications.reload()));
  const { prisma } = first!.services.db;
  for (let round = 0; round < 3; round++) {
    const user = await first!.createUser();
    const logins = Array.from({ length: 24 }, (_, i) => {
      const instance = cluster.instances[i % cluster.instances.length]!;
      const clientId = i % 2 === 0 ? "evicting" : "denying";
      return Promise.resolve(instance.login(user.username, user.password, { client_id: clientId })).then((res) => ({ clientId, res }));
    });
    const results = await Promise.all(logins);
    t.notOk(
      results.some((r) => r.res.statusCode >= 500),
      `round ${round}: no 5xx`,
    );
    const of = (clientId: string) => results.filter((r) => r.clientId === clientId).map((r) => r.res);
    t.same([...new Set(of("evicting").map((r) => r.statusCode))], [200], "evict_oldest: every login wins");
    const denied = of("denying").filter((r) => r.statusCode === 403);
    t.equal(of("denying").length - denied.length, 3, "deny: exactly the limit got in");
    t.ok(
      denied.every((r) => r.json().error === "session_limit"),
      "the rest are session_limit",
    );
    const live = await prisma.session.groupBy({ by: ["clientId"], where: { userId: user.id, revokedAt: null }, _count: true });
    t.same(Object.fromEntries(live.map((g) => [g.clientId, g._count])), { evicting: 2, denying: 3 }, `round ${round}: each at its limit`);
    const evicted = of("evicting").flatMap((r) => (r.json().evicted_session_ids ?? []) as string[]);
    t.equal(new Set(evicted).size, 10, "each of the ten displaced sessions was evicted by exactly one login");
    t.equal(
      await prisma.session.count({ where: { userId: user.id, clientId: "denying", revokedAt: { not: null } } }),
      0,
      "deny revoked nothing",
    );
  }
});
