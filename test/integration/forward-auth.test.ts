// SPEC §12 through app.inject, in both storage modes; the real gateways are in test/e2e/gateways.test.ts.
import t from "tap";
import type { FastifyInstance } from "fastify";
import { cookiesOf, MODES, testApp, type TestApp } from "../fixtures/app.js";
import { FakeClock, MINUTE, SECOND } from "../fixtures/clock.js";
import { freshRedisPrefix, redisTestUrl } from "../fixtures/redis.js";

const cookieHeader = (jar: Record<string, string>) =>
  Object.entries(jar)
    .map(([k, v]) => `${k}=${v}`)
    .join("; ");

type Method = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS";

const ask = (app: FastifyInstance, headers: Record<string, string>, method: Method = "GET", url = "/forward-auth") =>
  app.inject({ method, url, headers });

async function cookieLogin(ctx: TestApp) {
  const user = await ctx.createUser();
  const res = await ctx.login(user.username, user.password, { transport: "cookie" });
  const set = cookiesOf(res);
  return { user, sessionId: res.json().session_id as string, access: set.sa_access!.value, csrf: set.sa_csrf!.value };
}

for (const mode of MODES) {
  t.test(`${mode}: a live bearer token is 200 with no body and names the subject, session, client and expiry`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const login = (await ctx.login(user.username, user.password)).json();
    const exp = JSON.parse(Buffer.from(login.access_token.split(".")[1], "base64url").toString()).exp;
    for (const method of ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const) {
      const res = await ask(ctx.app, { authorization: `Bearer ${login.access_token}` }, method, "/forward-auth?next=/x&token=ignored");
      t.equal(res.statusCode, 200, `${method} is accepted, the query string ignored`);
      t.equal(res.body, "", "no body");
      t.equal(res.headers["x-auth-subject"], user.id);
      t.equal(res.headers["x-auth-session"], login.session_id);
      t.equal(res.headers["x-auth-client"], "default", "a token that names no application is the default one's");
      t.equal(res.headers["x-auth-expires"], String(exp));
      t.equal(res.headers["x-auth-claims"], undefined, "no custom claims, no header");
      t.equal(res.headers["cache-control"], "no-store");
    }
    t.equal(
      (await ask(ctx.app, { authorization: `Bearer ${login.access_token}` }, "GET", "/forward-auth/api/orders/7?x=1")).statusCode,
      200,
      "Envoy: the original path after /forward-auth",
    );
    // Gateways forward the original Content-Type without the body: that is no error.
    const bodiless = await ctx.app.inject({
      method: "POST",
      url: "/forward-auth",
      headers: { authorization: `Bearer ${login.access_token}`, "content-type": "application/json" },
    });
    t.equal(bodiless.statusCode, 200, "a declared JSON body that is empty");
    const odd = await ctx.app.inject({
      method: "PUT",
      url: "/forward-auth",
      headers: { authorization: `Bearer ${login.access_token}`, "content-type": "text/csv" },
      payload: "a,b",
    });
    t.equal(odd.statusCode, 200, "a body of any type is ignored");
  });

  t.test(
    `${mode}: no token is a bare Bearer challenge; a bad, expired, logged-out or wrong-transport token is invalid_token`,
    async (t) => {
      const ctx = await testApp(t, mode);
      const user = await ctx.createUser();
      const login = (await ctx.login(user.username, user.password)).json();
      const cookie = await cookieLogin(ctx);
      const refused = async (headers: Record<string, string>, challenge: string, why: string) => {
        const res = await ask(ctx.app, headers);
        t.equal(res.statusCode, 401, why);
        t.equal(res.headers["www-authenticate"], challenge, why);
        t.equal(res.body, "", `${why}: no detail`);
        t.equal(res.headers["x-auth-subject"], undefined, `${why}: names no one`);
      };
      const invalid = 'Bearer error="invalid_token"';
      await refused({}, "Bearer", "no token");
      await refused({ authorization: "Bearer garbage" }, invalid, "garbage");
      await refused({ authorization: `Bearer ${login.access_token.slice(0, -4)}AAAA` }, invalid, "a tampered signature");
      await refused({ authorization: `Bearer ${login.refresh_token}` }, invalid, "a refresh token is no access token");
      await refused({ authorization: "Basic dXNlcjpwYXNz" }, invalid, "an Authorization header that is not Bearer");
      await refused({ authorization: `Bearer ${"a".repeat(5000)}` }, invalid, "an oversize token");
      await refused({ authorization: "Bearer " }, invalid, "an empty bearer token");
      await refused({ cookie: "sa_access=%ZZ%00; sa_csrf=x" }, invalid, "a mangled cookie");
      await refused({ cookie: cookieHeader({ sa_access: login.access_token }) }, invalid, "a bearer session's token in the cookie");
      await refused({ authorization: `Bearer ${cookie.access}` }, invalid, "a cookie session's token in the Authorization header");

      await ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${login.access_token}` } });
      await refused({ authorization: `Bearer ${login.access_token}` }, invalid, "a logged-out session's token");

      ctx.clock.advance(10 * MINUTE + SECOND);
      await refused({ cookie: cookieHeader({ sa_access: cookie.access }) }, invalid, "an expired token");
    },
  );

  t.test(`${mode}: a cookie session's unsafe request needs the CSRF header and, with an Origin, the page's origin`, async (t) => {
    const ctx = await testApp(t, mode);
    const c = await cookieLogin(ctx);
    const jar = { cookie: cookieHeader({ sa_access: c.access, sa_csrf: c.csrf }) };
    const status = async (headers: Record<string, string>, method: Method = "GET") =>
      (await ask(ctx.app, { ...jar, ...headers }, method)).statusCode;

    t.equal(await status({}), 200, "a safe request needs no CSRF header");
    t.equal(await status({}, "OPTIONS"), 200, "OPTIONS is safe");
    t.equal(await status({}, "POST"), 403, "the request's own method is unsafe");
    t.equal(await status({ "x-forwarded-method": "POST" }), 403, "X-Forwarded-Method names an unsafe method (Caddy, Traefik)");
    t.equal(await status({ "x-original-method": "delete" }), 403, "X-Original-Method names an unsafe method (nginx)");
    t.equal(await status({ "x-forwarded-method": "POST", "x-csrf-token": "forged" }), 403, "a mismatched CSRF header");
    t.equal(await status({ "x-forwarded-method": "POST", "x-csrf-token": c.csrf }), 200, "the matching CSRF header");
    t.equal(await status({ "x-original-method": "PATCH", "x-csrf-token": c.csrf }, "POST"), 200);

    const forwarded = {
      "x-forwarded-method": "POST",
      "x-csrf-token": c.csrf,
      "x-forwarded-proto": "https",
      "x-forwarded-host": "app.example",
    };
    t.equal(await status({ ...forwarded, origin: "https://app.example" }), 200, "an Origin of the page's own origin");
    t.equal(await status({ ...forwarded, origin: "https://evil.example" }), 403, "an Origin of another site");
    t.equal(await status({ ...forwarded, origin: "null" }), 403, "an opaque Origin");
    t.equal(
      await status({ "x-forwarded-method": "POST", "x-csrf-token": c.csrf, origin: "https://app.example" }),
      403,
      "an Origin with nothing to compare it to",
    );
    t.equal(
      await status({
        "x-forwarded-method": "POST",
        "x-csrf-token": c.csrf,
        "x-original-url": "https://app.example/api?x=1",
        origin: "https://app.example",
      }),
      200,
      "the page's origin from X-Original-URL",
    );

    // SPEC §12: an Origin its application lists passes too, wherever the original request went.
    await ctx.services.db.prisma.application.update({ where: { id: "default" }, data: { origins: ["https://spa.example"] } });
    await ctx.services.applications.reload();
    t.equal(await status({ ...forwarded, origin: "https://spa.example" }), 200, "an Origin of the session's application");
    t.equal(await status({ ...forwarded, origin: "https://evil.example" }), 403, "and still no other");

    const res = await ask(ctx.app, { ...jar, "x-forwarded-method": "POST" });
    t.equal(res.json().error, "forbidden");
    const bad = await ask(ctx.app, { cookie: cookieHeader({ sa_access: `${c.access.slice(0, -4)}AAAA` }), "x-forwarded-method": "POST" });
    t.equal(bad.statusCode, 401, "an invalid token is 401 before any CSRF question");
  });
}

t.test("the hot path reads no database when the mirror answers, and is counted in /metrics", async (t) => {
  const ctx = await testApp(t, "embedded");
  const user = await ctx.createUser();
  const login = (await ctx.login(user.username, user.password)).json();
  const store = ctx.services.sessionStore;
  let reads = 0;
  const original = store.findSession.bind(store);
  store.findSession = async (id) => (reads++, original(id));
  for (let i = 0; i < 3; i++) t.equal((await ask(ctx.app, { authorization: `Bearer ${login.access_token}` })).statusCode, 200);
  await ask(ctx.app, {});
  t.equal(reads, 0, "no session read");
  const metrics = (await ctx.app.inject({ url: "/metrics" })).body;
  t.match(metrics, /session_authority_forward_auth_total\{outcome="allow"\} 3/);
  t.match(metrics, /session_authority_forward_auth_total\{outcome="no_token"\} 1/);
});

t.test("once a logout on one instance has answered, another instance answers 401 for its tokens, round after round", async (t) => {
  const prefix = freshRedisPrefix(t);
  const clock = new FakeClock();
  const a = await testApp(t, "postgres", {
    clock,
    env: { REDIS_URL: redisTestUrl() },
    serviceOptions: { redisKeyPrefix: prefix, background: true },
  });
  const url = a.services.config.storage.databaseUrl!;
  // B polls Postgres rarely: what it knows at once came through the mirror lease and Redis.
  const b = await testApp(t, "postgres", {
    clock,
    storage: { url },
    env: { REDIS_URL: redisTestUrl() },
    serviceOptions: { redisKeyPrefix: prefix, background: true, revocationPollMs: 60_000 },
  });
  const user = await a.createUser();
  for (let round = 0; round < 20; round++) {
    const one = (await a.login(user.username, user.password)).json();
    const bearer = { authorization: `Bearer ${one.access_token}` };
    t.equal((await ask(b.app, bearer)).statusCode, 200, `round ${round}: live on B`);
    // B asks while A's logout is in flight and right after it answered.
    const during = ask(b.app, bearer);
    const logout = await a.app.inject({ method: "POST", url: "/logout", headers: bearer, payload: round % 5 === 4 ? { all: true } : {} });
    t.equal(logout.statusCode, 204);
    const [after] = await Promise.all([ask(b.app, bearer), during]);
    t.equal(after.statusCode, 401, `round ${round}: B refuses once A's logout answered`);
    clock.advance(SECOND);
  }
});
