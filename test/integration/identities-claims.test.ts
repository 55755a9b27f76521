// SPEC §11: external users, how the user authenticated, custom claims and a
// claims change, on both storage modes, over HTTP as a sibling sees them.
import type { Test } from "tap";
import t from "tap";
import { MODES, type Mode, testApp, type TestApp } from "../fixtures/app.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";
import { verifierFor } from "../fixtures/verifier.js";
import { webhookReceiver } from "../fixtures/webhook-receiver.js";

const claimsOf = (jwt: string): Record<string, unknown> => JSON.parse(Buffer.from(jwt.split(".")[1]!, "base64url").toString("utf8"));
const OTHER_IP = "198.51.100.9";
// biome-ignore lint/suspicious/noExplicitAny: answers are arbitrary JSON, inspected field by field
type Json = Record<string, any>;

interface Ctx extends TestApp {
  upstream: TestClient;
  other: TestClient;
  sibling: TestClient;
  admin: TestClient;
  issue(payload: Record<string, unknown>, by?: TestClient): Promise<{ status: number; body: Json }>;
  introspect(token: string): Promise<Json>;
  refresh(refreshToken: string, ip?: string): Promise<{ status: number; body: Json }>;
  patchUser(id: string, body: Record<string, unknown>): Promise<{ status: number; body: Json | null }>;
}

async function setup(t: Test, mode: Mode): Promise<Ctx> {
  const ctx = await testApp(t, mode);
  const [upstream, other, sibling, admin] = await Promise.all([
    createClient(ctx.services, ["sessions:issue"], "upstream idp"),
    createClient(ctx.services, ["sessions:issue"], "another idp"),
    createClient(ctx.services, ["introspect"], "sibling"),
    createClient(ctx.services, ["admin"], "operator"),
  ]);
  const json = (r: { statusCode: number; body: string }) => ({ status: r.statusCode, body: r.body ? JSON.parse(r.body) : null });
  return {
    ...ctx,
    upstream,
    other,
    sibling,
    admin,
    issue: async (payload, by = upstream) =>
      json(await ctx.app.inject({ method: "POST", url: "/sessions", headers: { authorization: by.basic }, payload })),
    introspect: async (token) =>
      (await ctx.app.inject({ method: "POST", url: "/introspect", headers: { authorization: sibling.basic }, payload: { token } })).json(),
    refresh: async (refreshToken, ip) =>
      json(
        await ctx.app.inject({
          method: "POST",
          url: "/refresh",
          payload: { refresh_token: refreshToken },
          ...(ip ? { remoteAddress: ip } : {}),
        }),
      ),
    patchUser: async (id, body) =>
      json(await ctx.app.inject({ method: "PATCH", url: `/admin/users/${id}`, headers: { authorization: admin.basic }, payload: body })),
  };
}

for (const mode of MODES) {
  t.test(`${mode}: an external subject is a user of its issuing client, created once, found afterwards`, async (t) => {
    const ctx = await setup(t, mode);
    const first = await ctx.issue({ external_subject: "idp|Alice-42" });
    t.equal(first.status, 200, "the first issuance creates the user");
    const userId = first.body.user_id as string;
    t.equal(claimsOf(first.body.access_token).sub, userId, "user_id is the tokens' sub");
    const again = await ctx.issue({ external_subject: "idp|Alice-42" });
    t.equal(again.body.user_id, userId, "later issuances find the same user");
    const elsewhere = await ctx.issue({ external_subject: "idp|Alice-42" }, ctx.other);
    t.equal(elsewhere.status, 200);
    t.not(elsewhere.body.user_id, userId, "the same subject from another service client is another user");
    const cased = await ctx.issue({ external_subject: "idp|alice-42" });
    t.not(cased.body.user_id, userId, "external subjects are compared exactly");

    // Many first issuances of one new subject at once: one user, every session its.
    const racing = await Promise.all(Array.from({ length: 12 }, () => ctx.issue({ external_subject: "idp|bob" })));
    t.same([...new Set(racing.map((r) => r.status))], [200]);
    t.equal(new Set(racing.map((r) => r.body.user_id)).size, 1, "concurrent first issuances create one user");
    const { prisma } = ctx.services.db;
    t.equal(await prisma.user.count({ where: { externalSubject: "idp|bob" } }), 1);
    t.equal(
      await prisma.auditEvent.count({ where: { type: "user_created", userId: racing[0]!.body.user_id } }),
      1,
      "created once, audited once",
    );

    const adminGet = (url: string) => ctx.app.inject({ url, headers: { authorization: ctx.admin.basic } });
    const listed = (await adminGet("/admin/users?q=ALICE")).json().users as Array<Record<string, unknown>>;
    t.same(
      listed.map((u) => [u.kind, u.issuer, u.external_subject]).sort(),
      [
        ["external", ctx.other.id, "idp|Alice-42"],
        ["external", ctx.upstream.id, "idp|Alice-42"],
        ["external", ctx.upstream.id, "idp|alice-42"],
      ].sort(),
      "search finds external subjects, case-insensitively, and shows kind and issuer",
    );
    const local = await ctx.createUser("carol");
    const one = (await adminGet(`/admin/users/${userId}`)).json();
    t.match(one, { id: userId, kind: "external", issuer: ctx.upstream.id, external_subject: "idp|Alice-42", claims: {}, live_sessions: 2 });
    t.match((await adminGet(`/admin/users/${local.id}`)).json(), { kind: "local", issuer: null, external_subject: null });
    t.equal((await adminGet("/admin/users/00000000-0000-4000-8000-000000000000")).statusCode, 404);

    // Paging walks every user once, whatever its kind.
    const seen: string[] = [];
    let cursor: string | null = "";
    while (cursor !== null) {
      const page: { users: Array<{ id: string }>; next_cursor: string | null } = (
        await adminGet(`/admin/users?limit=2${cursor ? `&cursor=${cursor}` : ""}`)
      ).json();
      seen.push(...page.users.map((u) => u.id));
      cursor = page.next_cursor;
    }
    t.equal(seen.length, await prisma.user.count(), "pages cover every user");
    t.equal(new Set(seen).size, seen.length, "no user twice");
    t.equal((await adminGet("/admin/users?cursor=bm9wZQ")).statusCode, 400, "a malformed cursor is a 400");

    // No password, no /login, whatever is tried.
    const login = await ctx.login("idp|Alice-42", "anything at all");
    t.equal(login.statusCode, 401, "an external user cannot use /login");
    const pw = await ctx.patchUser(userId, { password: "a new password" });
    t.equal(pw.status, 400, "an external user gets no password");
    t.equal(pw.body?.error, "invalid_request");

    // Disabled and revoked like a local user.
    t.equal((await ctx.patchUser(userId, { disabled: true })).status, 204);
    t.same(await ctx.introspect(first.body.access_token), { active: false }, "disabling revokes its sessions");
    const refused = await ctx.issue({ external_subject: "idp|Alice-42" });
    t.equal(refused.status, 403, "a disabled external user gets no session");
    t.equal((await ctx.patchUser(userId, { disabled: false })).status, 204);
    const back = await ctx.issue({ external_subject: "idp|Alice-42" });
    t.equal(back.status, 200);
    const revoke = await ctx.app.inject({
      method: "DELETE",
      url: `/admin/users/${userId}/sessions`,
      headers: { authorization: ctx.admin.basic },
    });
    t.equal(revoke.statusCode, 204);
    t.same(await ctx.introspect(back.body.access_token), { active: false }, "revoked like a local user's");

    for (const bad of [{ subject: local.id, external_subject: "x" }, {}, { external_subject: "" }, { external_subject: "x".repeat(256) }]) {
      t.equal((await ctx.issue(bad)).status, 400, JSON.stringify(bad).slice(0, 60));
    }
  });

  t.test(`${mode}: auth_time, amr and acr are on every token and introspection answer, across refreshes`, async (t) => {
    const ctx = await setup(t, mode);
    const user = await ctx.createUser();
    const loginAt = Math.floor(ctx.clock.now().getTime() / 1000);
    const login = (await ctx.login(user.username, user.password)).json();
    t.match(claimsOf(login.access_token), { amr: ["pwd"], auth_time: loginAt }, "/login: a password, now");
    t.notOk("acr" in claimsOf(login.access_token), "no acr when none is known");

    const authTime = loginAt - 120;
    const issued = await ctx.issue({ external_subject: "mfa-user", amr: ["pwd", "otp"], acr: "urn:example:loa:2", auth_time: authTime });
    t.equal(issued.status, 200);
    const want = { auth_time: authTime, amr: ["pwd", "otp"], acr: "urn:example:loa:2" };
    ctx.clock.advance(5_000);
    const fast = await ctx.refresh(issued.body.refresh_token);
    const locked = await ctx.refresh(fast.body.refresh_token, OTHER_IP);
    t.equal(locked.status, 200);
    for (const [path, tokens] of [
      ["POST /sessions", issued.body],
      ["fast refresh", fast.body],
      ["locked refresh", locked.body],
    ] as const) {
      t.match(claimsOf(tokens.access_token), want, `${path}: the token`);
      t.match(await ctx.introspect(tokens.access_token), { active: true, ...want }, `${path}: introspection`);
    }
    t.match(
      await ctx.introspect(locked.body.refresh_token),
      { active: true, token_type: "refresh_token", ...want },
      "a refresh token's answer too",
    );
    const viewed = await ctx.app.inject({ url: `/admin/sessions/${issued.body.session_id}`, headers: { authorization: ctx.admin.basic } });
    t.match(
      viewed.json().session,
      { amr: ["pwd", "otp"], acr: "urn:example:loa:2", auth_time: new Date(authTime * 1000).toISOString() },
      "the admin view",
    );
    const plain = await ctx.issue({ external_subject: "plain" });
    t.match(
      claimsOf(plain.body.access_token),
      { amr: [], auth_time: Math.floor(ctx.clock.now().getTime() / 1000) },
      "unknown: now, no method",
    );

    for (const bad of [
      { external_subject: "x", auth_time: Math.floor(ctx.clock.now().getTime() / 1000) + 3600 },
      { external_subject: "x", auth_time: "yesterday" },
      { external_subject: "x", amr: [] },
      { external_subject: "x", amr: ["pwd", "has space"] },
      { external_subject: "x", amr: "pwd" },
      { external_subject: "x", acr: "" },
    ]) {
      const r = await ctx.issue(bad);
      t.equal(r.status, 400, JSON.stringify(bad));
      t.equal(r.body.error, "invalid_request");
    }
  });

  t.test(`${mode}: custom claims: user's and session's, merged, validated, carried everywhere`, async (t) => {
    const ctx = await setup(t, mode);
    const first = await ctx.issue({ external_subject: "editor-1" });
    const userId = first.body.user_id as string;
    t.equal((await ctx.patchUser(userId, { claims: { role: "editor", tenant: "acme", plan: { tier: "pro" } } })).status, 204);
    const issued = await ctx.issue({ external_subject: "editor-1", claims: { tenant: "globex", scopes_extra: ["beta"] } });
    t.equal(issued.status, 200);
    const want = { role: "editor", tenant: "globex", plan: { tier: "pro" }, scopes_extra: ["beta"] };
    t.match(claimsOf(issued.body.access_token), want, "the token carries the union, the session's winning");
    const answer = await ctx.introspect(issued.body.access_token);
    t.match(answer, { active: true, sub: userId, ...want }, "introspection, at the top level");

    const forward = await ctx.app.inject({ url: "/forward-auth", headers: { authorization: `Bearer ${issued.body.access_token}` } });
    t.equal(forward.statusCode, 200);
    t.same(JSON.parse(Buffer.from(String(forward.headers["x-auth-claims"]), "base64url").toString("utf8")), want, "X-Auth-Claims");

    const address = await ctx.app.listen({ host: "127.0.0.1", port: 0 });
    const { verifier } = await verifierFor(t, ctx, address, { clock: ctx.clock });
    await verifier.ready();
    const verified = await verifier.verify(issued.body.access_token, { transport: "header" });
    t.same(verified.claims, want, "the verifier types them as `claims`");
    t.same(verified.amr, [], "and carries amr");

    const none = await ctx.issue({ external_subject: "nobody" });
    t.same((await verifier.verify(none.body.access_token, { transport: "header" })).claims, {}, "{} when there are none");
    const noneForward = await ctx.app.inject({ url: "/forward-auth", headers: { authorization: `Bearer ${none.body.access_token}` } });
    t.notOk("x-auth-claims" in noneForward.headers, "no X-Auth-Claims when there are none");

    const before = await ctx.services.db.prisma.user.findUnique({ where: { id: userId } });
    const big = "x".repeat(2100);
    for (const [what, send] of [
      ["a registered name (PATCH)", () => ctx.patchUser(userId, { claims: { role: "admin", sub: "someone-else" } })],
      ["client_id (PATCH)", () => ctx.patchUser(userId, { claims: { client_id: "x" } })],
      ["over 4096 bytes (PATCH)", () => ctx.patchUser(userId, { claims: { blob: "x".repeat(4100) } })],
      ["not an object (PATCH)", () => ctx.patchUser(userId, { claims: ["role"] })],
      ["a registered name (POST /sessions)", () => ctx.issue({ external_subject: "editor-1", claims: { amr: ["x"] } })],
      ["over 4096 bytes (POST /sessions)", () => ctx.issue({ external_subject: "editor-1", claims: { blob: "x".repeat(4100) } })],
    ] as const) {
      const r = await send();
      t.equal(r.status, 400, what);
      t.equal(r.body?.error, "invalid_request", what);
    }
    // Each part within the limit, the union over it: refused where it would be formed.
    t.equal((await ctx.patchUser(userId, { claims: { a: big } })).status, 204);
    const union = await ctx.issue({ external_subject: "editor-1", claims: { b: big } });
    t.equal(union.status, 400, "a session whose union is over 4096 bytes is refused");
    const held = await ctx.issue({ external_subject: "editor-1", claims: { b: "small" } });
    t.equal(held.status, 200);
    const overUnion = await ctx.patchUser(userId, { claims: { a: big, c: big } });
    t.equal(overUnion.status, 400, "user claims that would take a live session's union over 4096 bytes are refused");
    const after = await ctx.services.db.prisma.user.findUnique({ where: { id: userId } });
    t.same(after?.claims, { a: big }, "a refused change changes nothing");
    t.not(before?.claims, after?.claims);
    t.match(await ctx.introspect(held.body.access_token), { active: true }, "and revokes nothing");
  });

  t.test(`${mode}: a claims change stops earlier tokens everywhere; the sessions live on with the new claims`, async (t) => {
    const ctx = await setup(t, mode);
    const user = await ctx.createUser();
    t.equal((await ctx.patchUser(user.id, { claims: { role: "editor" } })).status, 204);
    const rx = await webhookReceiver(t);
    const hook = await ctx.app.inject({
      method: "POST",
      url: "/admin/webhooks",
      headers: { authorization: ctx.admin.basic },
      payload: { url: rx.url(), events: ["user.claims_changed"] },
    });
    t.equal(hook.statusCode, 201);
    const login = (await ctx.login(user.username, user.password)).json();
    const issued = await ctx.issue({ subject: user.id, claims: { device: "kiosk" } });
    const address = await ctx.app.listen({ host: "127.0.0.1", port: 0 });
    const { verifier } = await verifierFor(t, ctx, address, { clock: ctx.clock });
    await verifier.ready();
    t.same((await verifier.verify(login.access_token, { transport: "header" })).claims, { role: "editor" });

    // In the same second as the tokens: the change must still stop them, and the refreshed ones must work.
    t.equal((await ctx.patchUser(user.id, { claims: { role: "viewer" } })).status, 204);
    for (const [what, token] of [
      ["login", login.access_token],
      ["POST /sessions", issued.body.access_token],
    ] as const) {
      t.same(await ctx.introspect(token), { active: false }, `${what}: the old token is inactive on introspection`);
      await t.rejects(
        verifier.verify(token, { transport: "header" }),
        { code: "token_revoked", revokedBy: "sub" },
        `${what}: and on the verifier`,
      );
    }
    const renewed = await ctx.refresh(login.refresh_token);
    t.equal(renewed.status, 200, "the session lives on");
    t.match(claimsOf(renewed.body.access_token), { role: "viewer" }, "the next refresh carries the new claims");
    t.match(await ctx.introspect(renewed.body.access_token), { active: true, role: "viewer" });
    t.same((await verifier.verify(renewed.body.access_token, { transport: "header" })).claims, { role: "viewer" });
    const renewedIssued = await ctx.refresh(issued.body.refresh_token, OTHER_IP);
    t.match(claimsOf(renewedIssued.body.access_token), { role: "viewer", device: "kiosk" }, "the locked path too, session claims kept");
    t.match(await ctx.introspect(renewedIssued.body.access_token), { active: true });

    const audit = await ctx.services.db.prisma.auditEvent.findFirst({
      where: { type: "user_claims_changed", userId: user.id },
      orderBy: { id: "desc" },
    });
    t.equal(audit?.actor, `client:${ctx.admin.id}`, "audited with the actor");
    t.same(audit?.detail, { changed: ["role"], sessions: 2 }, "and the claim names that changed");
    t.equal(await ctx.services.webhookWorker.tick(), 1, "one user.claims_changed webhook");
    const delivered = JSON.parse(rx.at()[0]!.body);
    t.match(delivered, { type: "user.claims_changed", data: { user_id: user.id, actor: `client:${ctx.admin.id}`, changed: ["role"] } });

    // The same claims again change nothing and stop nothing.
    t.equal((await ctx.patchUser(user.id, { claims: { role: "viewer" } })).status, 204);
    t.match(await ctx.introspect(renewed.body.access_token), { active: true }, "an unchanged set revokes nothing");
    // Removing every claim is a change too.
    t.equal((await ctx.patchUser(user.id, { claims: {} })).status, 204);
    t.same(await ctx.introspect(renewed.body.access_token), { active: false });
    const cleared = await ctx.refresh(renewed.body.refresh_token);
    t.notOk("role" in claimsOf(cleared.body.access_token), "cleared claims leave the next token");
    t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { type: "user_claims_changed", userId: user.id } }), 3);
  });
}
