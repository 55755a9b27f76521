import t from "tap";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { MINUTE, SECOND } from "../fixtures/clock.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";

async function setup(t: Parameters<typeof testApp>[0], mode: (typeof MODES)[number]) {
  const ctx = await testApp(t, mode);
  const client = await createClient(ctx.services, ["introspect"]);
  const user = await ctx.createUser();
  return { ...ctx, client, user };
}

const introspect = (ctx: TestApp, client: TestClient, body: Record<string, string>, as: "json" | "form" = "json") =>
  ctx.app
    .inject({
      method: "POST",
      url: "/introspect",
      headers: { authorization: client.basic, ...(as === "form" ? { "content-type": "application/x-www-form-urlencoded" } : {}) },
      payload: as === "form" ? new URLSearchParams(body).toString() : body,
    })
    .then((r) => ({ status: r.statusCode, body: r.json(), headers: r.headers }));

for (const mode of MODES) {
  t.test(`${mode}: a live access token is active with its claims, as a form or as JSON (RFC 7662)`, async (t) => {
    const ctx = await setup(t, mode);
    const login = (await ctx.login(ctx.user.username, ctx.user.password)).json();
    for (const as of ["json", "form"] as const) {
      const res = await introspect(ctx, ctx.client, { token: login.access_token }, as);
      t.equal(res.status, 200);
      t.equal(res.headers["cache-control"], "no-store");
      t.match(res.body, {
        active: true,
        sub: ctx.user.id,
        sid: login.session_id,
        iss: "http://session-authority.test",
        aud: "http://session-authority.test",
        jti: String,
        token_type: "access_token",
        trn: "bearer",
      });
      t.equal(res.body.exp - res.body.iat, 600);
    }
    const hinted = await introspect(ctx, ctx.client, { token: login.access_token, token_type_hint: "refresh_token" });
    t.equal(hinted.body.active, true, "a wrong hint does not change the answer (RFC 7662 §2.1)");
  });

  t.test(`${mode}: anything not live is {active:false} and nothing else (RFC 7662 §2.2)`, async (t) => {
    const ctx = await setup(t, mode);
    const login = (await ctx.login(ctx.user.username, ctx.user.password)).json();
    const inactive = async (token: string, why: string, extra: Record<string, string> = {}) => {
      const res = await introspect(ctx, ctx.client, { token, ...extra });
      t.equal(res.status, 200, why);
      t.same(res.body, { active: false }, why);
    };
    await inactive("garbage", "garbage");
    await inactive("a".repeat(43), "an unknown opaque token");
    await inactive(login.access_token.slice(0, -4) + "AAAA", "a forged signature");
    await inactive(login.access_token, "a bearer token the caller found in a cookie", { token_transport: "cookie" });
    t.equal(
      (await introspect(ctx, ctx.client, { token: login.access_token, token_transport: "header" })).body.active,
      true,
      "the matching transport is fine",
    );

    ctx.clock.advance(10 * MINUTE + SECOND);
    await inactive(login.access_token, "an expired access token");
  });

  t.test(`${mode}: after logout, every token of the session is inactive at once`, async (t) => {
    const ctx = await setup(t, mode);
    const one = (await ctx.login(ctx.user.username, ctx.user.password)).json();
    const two = (await ctx.login(ctx.user.username, ctx.user.password)).json();
    const logout = await ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${one.access_token}` } });
    t.equal(logout.statusCode, 204);
    t.same((await introspect(ctx, ctx.client, { token: one.access_token })).body, { active: false });
    t.same((await introspect(ctx, ctx.client, { token: one.refresh_token })).body, { active: false });
    t.equal((await introspect(ctx, ctx.client, { token: two.access_token })).body.active, true, "the other session lives on");

    await ctx.app.inject({
      method: "POST",
      url: "/logout",
      headers: { authorization: `Bearer ${two.access_token}` },
      payload: { all: true },
    });
    t.same(
      (await introspect(ctx, ctx.client, { token: two.access_token })).body,
      { active: false },
      "logout everywhere reaches access tokens (user entry)",
    );
    ctx.clock.advance(SECOND);
    const three = (await ctx.login(ctx.user.username, ctx.user.password)).json();
    t.equal(
      (await introspect(ctx, ctx.client, { token: three.access_token })).body.active,
      true,
      "a later login is not caught by the user entry",
    );
  });

  t.test(`${mode}: a refresh token is active until rotated, and reports its session`, async (t) => {
    const ctx = await setup(t, mode);
    const login = (await ctx.login(ctx.user.username, ctx.user.password)).json();
    const res = await introspect(ctx, ctx.client, { token: login.refresh_token }, "form");
    t.match(res.body, {
      active: true,
      sub: ctx.user.id,
      sid: login.session_id,
      token_type: "refresh_token",
      trn: "bearer",
      iss: "http://session-authority.test",
    });
    t.equal(res.body.exp - res.body.iat, 7 * 86400);
    t.same((await introspect(ctx, ctx.client, { token: login.refresh_token, token_transport: "cookie" })).body, { active: false });

    const refreshed = (await ctx.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: login.refresh_token } })).json();
    t.same(
      (await introspect(ctx, ctx.client, { token: login.refresh_token })).body,
      { active: false },
      "a rotated token is spent, even within the grace window",
    );
    t.equal((await introspect(ctx, ctx.client, { token: refreshed.refresh_token })).body.active, true);
  });

  t.test(`${mode}: cookie sessions introspect with trn cookie`, async (t) => {
    const ctx = await setup(t, mode);
    const login = await ctx.login(ctx.user.username, ctx.user.password, { transport: "cookie" });
    const access = login.cookies.find((c) => c.name === "sa_access")!.value;
    t.match((await introspect(ctx, ctx.client, { token: access, token_transport: "cookie" })).body, { active: true, trn: "cookie" });
    t.same(
      (await introspect(ctx, ctx.client, { token: access, token_transport: "header" })).body,
      { active: false },
      "a cookie token found in a header is inactive",
    );
  });

  t.test(`${mode}: malformed introspection requests are 400`, async (t) => {
    const ctx = await setup(t, mode);
    const post = (payload: unknown) =>
      ctx.app.inject({
        method: "POST",
        url: "/introspect",
        headers: { authorization: ctx.client.basic },
        payload: payload as Record<string, unknown>,
      });
    for (const [payload, why] of [
      [{}, "no token"],
      [{ token: "" }, "an empty token"],
      [{ token: 42 }, "a token that is not a string"],
      [{ token: "x", token_transport: "pigeon" }, "an unknown transport"],
      [{ token: "x".repeat(9000) }, "an oversize token"],
      // Lengths count UTF-16 units (ajv unicode: false): 8,100 code points here, but 8,200 units, over the 8,192 limit.
      [{ token: "x".repeat(8000) + "\u{1F600}".repeat(100) }, "an oversize token counted in UTF-16 units"],
    ] as const) {
      const res = await post(payload);
      t.equal(res.statusCode, 400, why);
      t.equal(res.json().error, "invalid_request", why);
    }
    const repeated = await ctx.app.inject({
      method: "POST",
      url: "/introspect",
      headers: { authorization: ctx.client.basic, "content-type": "application/x-www-form-urlencoded" },
      payload: "token=a&token=b",
    });
    t.equal(repeated.statusCode, 400, "a repeated parameter (RFC 6749 §3.1)");
  });
}

t.test("the hot path reads no database when the mirror answers (embedded: the mirror is the list)", async (t) => {
  const ctx = await setup(t, "embedded");
  const login = (await ctx.login(ctx.user.username, ctx.user.password)).json();
  const sessions = ctx.services.sessionStore;
  let reads = 0;
  const original = sessions.findSession.bind(sessions);
  sessions.findSession = async (id) => (reads++, original(id));
  t.equal((await introspect(ctx, ctx.client, { token: login.access_token })).body.active, true);
  t.equal(reads, 0);
});
