// SPEC §13: CORS for the origins applications list, on the client-facing
// routes only, and the Origin check of a cookie session's unsafe requests.
import t from "tap";
import type { LightMyRequestResponse } from "fastify";
import { cookiesOf, MODES, testApp, type TestApp } from "../fixtures/app.js";

const SPA = "https://spa.example";
const EVIL = "https://evil.example";
/** The test app's ISSUER: the service's own origin. */
const OWN = "http://session-authority.test";

const corsHeaders = (res: LightMyRequestResponse) => Object.keys(res.headers).filter((h) => h.startsWith("access-control-"));

async function addApplication(ctx: TestApp, id: string, origins: string[]) {
  await ctx.services.db.prisma.application.create({ data: { id, name: id, transports: ["cookie", "bearer"], origins } });
  await ctx.services.applications.reload();
}

async function setDefaultOrigins(ctx: TestApp, origins: string[]) {
  await ctx.services.db.prisma.application.update({ where: { id: "default" }, data: { origins } });
  await ctx.services.applications.reload();
}

const preflight = (ctx: TestApp, url: string, origin: string, method: string) =>
  ctx.app.inject({
    method: "OPTIONS",
    url,
    headers: { origin, "access-control-request-method": method, "access-control-request-headers": "content-type,x-csrf-token" },
  });

/** A cookie session: its cookie header, CSRF value and id. */
async function cookieSession(ctx: TestApp, headers: Record<string, string> = {}) {
  const user = await ctx.createUser();
  const res = await ctx.login(user.username, user.password, { transport: "cookie" }, headers);
  if (res.statusCode !== 200) throw new Error(`cookie login answered ${res.statusCode}`);
  const set = cookiesOf(res);
  const csrf = set.sa_csrf!.value;
  return {
    user,
    sid: res.json().session_id as string,
    csrf,
    access: `sa_access=${set.sa_access!.value}; sa_csrf=${csrf}`,
    refresh: `sa_refresh=${set.sa_refresh!.value}; sa_csrf=${csrf}`,
  };
}

const CLIENT_CALLS: Array<[string, string]> = [
  ["/login", "POST"],
  ["/refresh", "POST"],
  ["/logout", "POST"],
  ["/sessions", "GET"],
  ["/sessions", "DELETE"],
  ["/sessions/00000000-0000-4000-8000-000000000000", "DELETE"],
];

for (const mode of MODES) {
  t.test(`${mode}: CORS on the client-facing routes`, async (t) => {
    const ctx = await testApp(t, mode);
    await addApplication(ctx, "spa", [SPA]);

    t.test("a listed origin's preflight is answered with that origin, credentials and the client's headers", async (t) => {
      for (const [url, method] of CLIENT_CALLS) {
        const res = await preflight(ctx, url, SPA, method);
        t.equal(res.statusCode, 204, `${method} ${url}`);
        t.equal(res.headers["access-control-allow-origin"], SPA, "the origin itself, never *");
        t.equal(res.headers["access-control-allow-credentials"], "true");
        t.match(res.headers.vary, /Origin/i);
        t.match(res.headers["access-control-allow-methods"], method);
        const allowed = String(res.headers["access-control-allow-headers"]).split(/,\s*/);
        for (const h of ["authorization", "content-type", "x-csrf-token"]) t.ok(allowed.includes(h), `allows ${h}`);
      }
    });

    t.test("a listed origin's requests carry the CORS headers", async (t) => {
      const user = await ctx.createUser();
      const res = await ctx.login(user.username, user.password, {}, { origin: SPA });
      t.equal(res.statusCode, 200);
      t.equal(res.headers["access-control-allow-origin"], SPA);
      t.equal(res.headers["access-control-allow-credentials"], "true");
      t.match(res.headers["access-control-expose-headers"], /retry-after/);
      const listed = await ctx.app.inject({
        url: "/sessions",
        headers: { origin: SPA, authorization: `Bearer ${res.json().access_token}` },
      });
      t.equal(listed.statusCode, 200);
      t.equal(listed.headers["access-control-allow-origin"], SPA);
      const refused = await ctx.login(user.username, "wrong password", {}, { origin: SPA });
      t.equal(refused.statusCode, 401);
      t.equal(refused.headers["access-control-allow-origin"], SPA, "errors too, so the page can read why");
    });

    t.test("an origin no application lists gets no CORS headers", async (t) => {
      for (const [url, method] of CLIENT_CALLS) {
        const res = await preflight(ctx, url, EVIL, method);
        t.equal(res.statusCode, 404, `${method} ${url}: no preflight answer`);
        t.same(corsHeaders(res), [], `${method} ${url}`);
      }
      const user = await ctx.createUser();
      const res = await ctx.login(user.username, user.password, {}, { origin: EVIL });
      t.equal(res.statusCode, 200, "the request itself is served (bearer)...");
      t.same(corsHeaders(res), [], "...but a browser does not let the page read it");
      t.same(corsHeaders(await ctx.login(user.username, user.password, {}, { origin: "null" })), [], "nor an opaque origin");
    });

    t.test("other routes get no CORS headers, even for a listed origin", async (t) => {
      for (const [url, method] of [
        ["/introspect", "POST"],
        ["/revoke", "POST"],
        ["/sessions", "POST"],
        ["/admin/users", "GET"],
        ["/forward-auth", "GET"],
        ["/.well-known/jwks.json", "GET"],
      ] as const) {
        const res = await preflight(ctx, url, SPA, method);
        // /forward-auth takes every method (SPEC §12): its OPTIONS is a gateway question, not a preflight.
        t.not(res.statusCode, 204, `${method} ${url}: no preflight answer`);
        t.same(corsHeaders(res), [], `${method} ${url}`);
      }
      const jwks = await ctx.app.inject({ url: "/.well-known/jwks.json", headers: { origin: SPA } });
      t.same(corsHeaders(jwks), []);
      t.notMatch(String(jwks.headers.vary ?? ""), /origin/i, "nor a Vary: Origin");
      const introspect = await ctx.app.inject({ method: "POST", url: "/introspect", headers: { origin: SPA }, payload: { token: "x" } });
      t.same(corsHeaders(introspect), []);
      const issue = await ctx.app.inject({ method: "POST", url: "/sessions", headers: { origin: SPA }, payload: { subject: "x" } });
      t.same(corsHeaders(issue), [], "POST /sessions is service-facing");
    });

    t.test("an application created after start is honoured once the cache reloads", async (t) => {
      const later = "https://later.example";
      t.equal((await preflight(ctx, "/login", later, "POST")).statusCode, 404);
      await addApplication(ctx, "later", [later]);
      const res = await preflight(ctx, "/login", later, "POST");
      t.equal(res.statusCode, 204);
      t.equal(res.headers["access-control-allow-origin"], later);
    });
  });

  t.test(`${mode}: a cookie session's unsafe requests must come from its application's origins`, async (t) => {
    const ctx = await testApp(t, mode);
    await addApplication(ctx, "spa", [SPA]);
    const live = async (sid: string) => (await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: sid } })).revokedAt === null;

    t.test("the service's own origin is allowed with the default application, which lists none", async (t) => {
      for (const origin of [OWN, "http://localhost"]) {
        const s = await cookieSession(ctx, { origin });
        const out = await ctx.app.inject({ method: "POST", url: "/logout", headers: { cookie: s.access, "x-csrf-token": s.csrf, origin } });
        t.equal(out.statusCode, 204, `${origin}: logout`);
      }
    });

    t.test("a cookie login from a foreign origin is 403 and creates nothing", async (t) => {
      const user = await ctx.createUser();
      const res = await ctx.login(user.username, user.password, { transport: "cookie" }, { origin: EVIL });
      t.equal(res.statusCode, 403);
      t.equal(res.json().error, "forbidden");
      t.same(cookiesOf(res), {}, "no cookies");
      t.equal(await ctx.services.db.prisma.session.count({ where: { userId: user.id } }), 0, "no session");
      const spa = await ctx.login(user.username, user.password, { transport: "cookie" }, { origin: SPA });
      t.equal(spa.statusCode, 403, "another application's origin is foreign to the default application");
      const bearer = await ctx.login(user.username, user.password, {}, { origin: EVIL });
      t.equal(bearer.statusCode, 200, "a bearer login has no ambient credential to protect");
    });

    t.test("logout and session revocation from a foreign origin are 403, and the session stays live", async (t) => {
      const s = await cookieSession(ctx);
      const headers = { cookie: s.access, "x-csrf-token": s.csrf, origin: EVIL };
      const out = await ctx.app.inject({ method: "POST", url: "/logout", headers });
      t.equal(out.statusCode, 403);
      t.equal(out.json().error, "forbidden");
      t.same(cookiesOf(out), {}, "the cookies are not cleared");
      const del = await ctx.app.inject({ method: "DELETE", url: `/sessions/${s.sid}`, headers });
      t.equal(del.statusCode, 403);
      const others = await ctx.app.inject({ method: "DELETE", url: "/sessions?except=current", headers });
      t.equal(others.statusCode, 403);
      t.ok(await live(s.sid), "the session is still live");
      const listed = await ctx.app.inject({ url: "/sessions", headers: { cookie: s.access, origin: EVIL } });
      t.equal(listed.statusCode, 200, "a safe request is not checked (CORS keeps its answer from the page)");
    });

    t.test("a refresh from a foreign origin is 403 and rotates nothing", async (t) => {
      const s = await cookieSession(ctx);
      const res = await ctx.app.inject({
        method: "POST",
        url: "/refresh",
        headers: { cookie: s.refresh, "x-csrf-token": s.csrf, origin: EVIL },
      });
      t.equal(res.statusCode, 403);
      t.equal(res.json().error, "forbidden");
      t.same(cookiesOf(res), {}, "the cookies are not cleared");
      t.equal(await ctx.services.db.prisma.refreshToken.count({ where: { sessionId: s.sid } }), 1, "no rotation");
      t.ok(await live(s.sid));
      const ok = await ctx.app.inject({ method: "POST", url: "/refresh", headers: { cookie: s.refresh, "x-csrf-token": s.csrf } });
      t.equal(ok.statusCode, 200, "the token is still good");
    });

    t.test("requests from the application's own origin are served", async (t) => {
      await setDefaultOrigins(ctx, [SPA]);
      t.teardown(() => setDefaultOrigins(ctx, []));
      const s = await cookieSession(ctx, { origin: SPA });
      const refreshed = await ctx.app.inject({
        method: "POST",
        url: "/refresh",
        headers: { cookie: s.refresh, "x-csrf-token": s.csrf, origin: SPA },
      });
      t.equal(refreshed.statusCode, 200);
      t.equal(refreshed.headers["access-control-allow-origin"], SPA);
      const next = cookiesOf(refreshed);
      const access = `sa_access=${next.sa_access!.value}; sa_csrf=${next.sa_csrf!.value}`;
      const out = await ctx.app.inject({
        method: "POST",
        url: "/logout",
        headers: { cookie: access, "x-csrf-token": next.sa_csrf!.value, origin: SPA },
      });
      t.equal(out.statusCode, 204);
      t.notOk(await live(s.sid));
    });

    t.test("a refresh is checked against its own session's application", async (t) => {
      const s = await cookieSession(ctx);
      await ctx.services.db.prisma.session.update({ where: { id: s.sid }, data: { clientId: "spa" } });
      const headers = (origin: string) => ({ cookie: s.refresh, "x-csrf-token": s.csrf, origin });
      const other = await ctx.app.inject({ method: "POST", url: "/refresh", headers: headers("https://other.example") });
      t.equal(other.statusCode, 403, "an origin of no application");
      const res = await ctx.app.inject({ method: "POST", url: "/refresh", headers: headers(SPA) });
      t.equal(res.statusCode, 200, "the session's application's origin");
    });
  });
}
