import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";
import { createClient } from "../fixtures/service-client.js";

for (const mode of MODES) {
  t.test(`${mode}: RFC 7009 revocation ends the session of an access or a refresh token`, async (t) => {
    const ctx = await testApp(t, mode);
    const revoker = await createClient(ctx.services, ["revoke"]);
    const inspector = await createClient(ctx.services, ["introspect"]);
    const user = await ctx.createUser();
    const active = async (token: string) =>
      (await ctx.app.inject({ method: "POST", url: "/introspect", headers: { authorization: inspector.basic }, payload: { token } })).json()
        .active;
    const revoke = (token: string, extra: Record<string, string> = {}) =>
      ctx.app.inject({
        method: "POST",
        url: "/revoke",
        headers: { authorization: revoker.basic, "content-type": "application/x-www-form-urlencoded" },
        payload: new URLSearchParams({ token, ...extra }).toString(),
      });

    const byAccess = (await ctx.login(user.username, user.password)).json();
    const res = await revoke(byAccess.access_token, { token_type_hint: "access_token" });
    t.equal(res.statusCode, 200);
    t.equal(res.body, "", "RFC 7009 §2.2: an empty 200");
    t.equal(await active(byAccess.access_token), false);
    t.equal(await active(byAccess.refresh_token), false, "the refresh token goes with its session");
    const refresh = await ctx.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: byAccess.refresh_token } });
    t.equal(refresh.statusCode, 401);

    const byRefresh = (await ctx.login(user.username, user.password)).json();
    t.equal((await revoke(byRefresh.refresh_token)).statusCode, 200);
    t.equal(await active(byRefresh.access_token), false, "revoking the refresh token stops the access token too");

    const session = await ctx.services.sessionStore.findSession(byRefresh.session_id);
    t.equal(session?.revokedReason, "rfc7009");
    t.equal(session?.revokedBy, `client:${revoker.id}`);
    const audit = await ctx.services.db.prisma.auditEvent.findFirst({
      where: { type: "session_revoked", sessionId: byRefresh.session_id },
    });
    t.equal(audit?.actor, `client:${revoker.id}`);

    for (const token of ["garbage", "a".repeat(43), byAccess.access_token, "x.y.z"]) {
      const again = await revoke(token);
      t.equal(again.statusCode, 200, "unknown, invalid and already revoked tokens are 200 too");
    }
    const missing = await ctx.app.inject({ method: "POST", url: "/revoke", headers: { authorization: revoker.basic }, payload: {} });
    t.equal(missing.statusCode, 400);
    t.equal(missing.json().error, "invalid_request");
  });
}

t.test("RFC 8414 metadata names the endpoints, the auth methods and the token algorithms", async (t) => {
  const { app } = await testApp(t, "postgres");
  const res = await app.inject({ url: "/.well-known/oauth-authorization-server" });
  t.equal(res.statusCode, 200);
  t.match(res.headers["cache-control"], /max-age=\d+/);
  const methods = ["client_secret_basic", "client_secret_post"];
  t.same(res.json(), {
    issuer: "http://session-authority.test",
    jwks_uri: "http://session-authority.test/.well-known/jwks.json",
    introspection_endpoint: "http://session-authority.test/introspect",
    revocation_endpoint: "http://session-authority.test/revoke",
    response_types_supported: [],
    token_endpoint_auth_methods_supported: methods,
    introspection_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_methods_supported: methods,
    access_token_signing_alg_values_supported: ["ES256"],
    service_documentation: "http://session-authority.test/openapi.yaml",
  });
});
