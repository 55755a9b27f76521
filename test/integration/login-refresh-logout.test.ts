import t from "tap";
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { MODES, testApp } from "../fixtures/app.js";

for (const mode of MODES) {
  t.test(`${mode}: login → call → refresh → logout`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser("Alice.Example");

    const res = await login("alice.example", user.password);
    t.equal(res.statusCode, 200, "usernames are case-insensitive");
    t.equal(res.headers["cache-control"], "no-store", "token answers are never cached (RFC 6749 §5.1)");
    const body = res.json();
    t.match(body, { token_type: "Bearer", expires_in: 600, refresh_expires_in: 7 * 86400, session_id: String });
    t.match(body.refresh_token, /^[A-Za-z0-9_-]{43}$/, "refresh token carries 256 bits");
    t.same(decodeProtectedHeader(body.access_token), { alg: "ES256", kid: decodeProtectedHeader(body.access_token).kid, typ: "at+jwt" });

    const sessions = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${body.access_token}` } });
    t.equal(sessions.statusCode, 200);
    t.equal(sessions.json().sessions.length, 1);
    t.equal(sessions.json().sessions[0].current, true);

    const refreshed = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: body.refresh_token } });
    t.equal(refreshed.statusCode, 200);
    const next = refreshed.json();
    t.not(next.refresh_token, body.refresh_token, "rotation issues a new refresh token");
    t.equal(next.session_id, body.session_id);

    const logout = await app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${next.access_token}` } });
    t.equal(logout.statusCode, 204);
    const after = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${next.access_token}` } });
    t.equal(after.statusCode, 401);
    t.equal(after.json().error, "invalid_token");
    const refreshAfter = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: next.refresh_token } });
    t.equal(refreshAfter.statusCode, 401);
    t.equal(refreshAfter.json().error, "invalid_grant", "a logged-out session's refresh token is dead");
  });

  t.test(`${mode}: the access token verifies with jose createRemoteJWKSet against the JWKS URL`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const address = await app.listen({ host: "127.0.0.1", port: 0 });
    const { access_token } = (await login(user.username, user.password)).json();
    const jwks = createRemoteJWKSet(new URL("/.well-known/jwks.json", address));
    const { payload, protectedHeader } = await jwtVerify(access_token, jwks, {
      issuer: "http://session-authority.test",
      audience: "http://session-authority.test",
      typ: "at+jwt",
      currentDate: new Date(),
    });
    t.equal(protectedHeader.alg, "ES256");
    t.equal(payload.sub, user.id);
    t.equal(payload.trn, "bearer");
    t.type(payload.sid, "string");
    t.type(payload.jti, "string");
    t.ok((payload.exp as number) - (payload.iat as number) === 600, "lifetime is ACCESS_TOKEN_TTL");
    const jwksRes = await fetch(new URL("/.well-known/jwks.json", address));
    t.match(jwksRes.headers.get("cache-control"), /max-age=\d+/);
    const key = ((await jwksRes.json()) as { keys: Array<Record<string, unknown>> }).keys[0]!;
    t.match(key, { kty: "EC", alg: "ES256", use: "sig", kid: String });
    t.notOk("d" in key, "no private part is ever published");
  });

  t.test(`${mode}: documented errors for bad input and bad credentials`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser();

    const wrong = await login(user.username, "not the password");
    const unknown = await login("nobody-at-all", "not the password");
    t.equal(wrong.statusCode, 401);
    t.same(wrong.json(), unknown.json(), "unknown user and wrong password answer alike");
    t.equal(wrong.json().error, "invalid_grant");

    const malformed = await app.inject({
      method: "POST",
      url: "/login",
      headers: { "content-type": "application/json" },
      payload: "{not json",
    });
    t.equal(malformed.statusCode, 400);
    t.same(malformed.json(), { error: "invalid_request", error_description: "the body is not valid JSON" });

    const missing = await app.inject({ method: "POST", url: "/login", payload: { username: "x" } });
    t.equal(missing.statusCode, 400);
    t.same(missing.json(), { error: "invalid_request", error_description: "body.password is required" });

    const empty = await app.inject({ method: "POST", url: "/login" });
    t.equal(empty.statusCode, 400);
    t.equal(empty.json().error, "invalid_request");

    const extra = await app.inject({ method: "POST", url: "/login", payload: { username: "x", password: "y", admin: true } });
    t.equal(extra.statusCode, 400);

    const badTransport = await login(user.username, user.password, { transport: "carrier-pigeon" });
    t.equal(badTransport.statusCode, 400);

    const huge = await app.inject({ method: "POST", url: "/login", payload: { username: "x", password: "y".repeat(100_000) } });
    t.equal(huge.statusCode, 413);
    t.equal(huge.json().error, "invalid_request");

    const wrongType = await app.inject({ method: "POST", url: "/login", headers: { "content-type": "text/plain" }, payload: "hi" });
    t.equal(wrongType.statusCode, 415);
    t.equal(wrongType.json().error, "invalid_request");

    const garbageRefresh = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: "garbage" } });
    t.equal(garbageRefresh.statusCode, 401);
    t.equal(garbageRefresh.json().error, "invalid_grant");

    const noToken = await app.inject({ method: "POST", url: "/logout" });
    t.equal(noToken.statusCode, 401);
    t.equal(noToken.json().error, "invalid_token");

    const badBearer = await app.inject({ url: "/sessions", headers: { authorization: "Bearer not.a.jwt" } });
    t.equal(badBearer.statusCode, 401);
    t.equal(badBearer.json().error, "invalid_token");

    const nowhere = await app.inject({ url: "/no/such/route" });
    t.equal(nowhere.statusCode, 404);
    t.equal(nowhere.json().error, "not_found");

    for (const res of [wrong, malformed, missing, huge, wrongType, garbageRefresh, badBearer]) {
      t.notMatch(res.body, /at \w+ \(|node_modules|\.ts:\d+/, "no stack trace reaches a client");
    }
  });

  t.test(`${mode}: health and readiness`, async (t) => {
    const { app } = await testApp(t, mode);
    t.same((await app.inject({ url: "/healthz" })).json(), { status: "ok" });
    const ready = await app.inject({ url: "/readyz" });
    t.equal(ready.statusCode, 200);
    t.match(ready.json(), { ready: true, postgres: "ok", keys: "ok" });
  });
}
