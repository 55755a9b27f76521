import t from "tap";
import { testApp } from "../fixtures/app.js";

const ADMIN = { id: "test-admin", secret: "test-admin-secret-0123456789" };
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString("base64")}`;
const admin = { authorization: basic(ADMIN.id, ADMIN.secret) };

t.test("admin API: users, sessions with refresh history, revocation, clients, keys, audit", async (t) => {
  const { app, login } = await testApp(t, "postgres", { env: { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret } });

  const created = await app.inject({
    method: "POST",
    url: "/admin/users",
    headers: admin,
    payload: { username: "Linus", password: "a good long password" },
  });
  t.equal(created.statusCode, 201);
  t.match(created.json(), { id: String, username: "Linus" });
  const taken = await app.inject({
    method: "POST",
    url: "/admin/users",
    headers: admin,
    payload: { username: "linus", password: "another long password" },
  });
  t.equal(taken.statusCode, 409, "a taken username is 409");
  const userId = created.json().id;

  const s1 = (await login("linus", "a good long password")).json();
  const s2 = (await login("linus", "a good long password")).json();
  await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: s1.refresh_token } });

  const found = (await app.inject({ url: "/admin/users?q=LIN", headers: admin })).json();
  t.match(found.users, [{ id: userId, username: "Linus", disabled: false, live_sessions: 2 }]);

  const sessions = (await app.inject({ url: `/admin/users/${userId}/sessions`, headers: admin })).json().sessions;
  t.equal(sessions.length, 2);
  t.match(sessions[0], { user_id: userId, last_ip: "127.0.0.1", device: Object, last_seen_at: String });

  const detail = (await app.inject({ url: `/admin/sessions/${s1.session_id}`, headers: admin })).json();
  t.equal(detail.refresh_history.length, 2, "the refresh history shows the rotation");
  t.ok(detail.refresh_history.some((r: { rotated_at: string | null }) => r.rotated_at !== null));

  t.equal((await app.inject({ method: "DELETE", url: `/admin/sessions/${s1.session_id}`, headers: admin })).statusCode, 204);
  t.equal((await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${s1.access_token}` } })).statusCode, 401);
  t.equal((await app.inject({ method: "DELETE", url: `/admin/sessions/${crypto.randomUUID()}`, headers: admin })).statusCode, 404);

  t.equal((await app.inject({ method: "DELETE", url: `/admin/users/${userId}/sessions`, headers: admin })).statusCode, 204);
  t.equal(
    (await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${s2.access_token}` } })).statusCode,
    401,
    "revoke-all ends every session",
  );

  // Disabling, and a new password, revoke all sessions.
  const s3 = (await login("linus", "a good long password")).json();
  t.equal(
    (await app.inject({ method: "PATCH", url: `/admin/users/${userId}`, headers: admin, payload: { password: "a brand new password" } }))
      .statusCode,
    204,
  );
  t.equal(
    (await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${s3.access_token}` } })).statusCode,
    401,
    "a new password revokes the sessions",
  );
  t.equal((await login("linus", "a good long password")).statusCode, 401, "the old password is gone");
  const s4 = (await login("linus", "a brand new password")).json();
  t.equal(
    (await app.inject({ method: "PATCH", url: `/admin/users/${userId}`, headers: admin, payload: { disabled: true } })).statusCode,
    204,
  );
  t.equal(
    (await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${s4.access_token}` } })).statusCode,
    401,
    "disabling revokes the sessions",
  );
  t.equal((await login("linus", "a brand new password")).statusCode, 401, "a disabled user cannot log in");

  // Clients: created with a secret shown once, rotated, deleted.
  const client = (
    await app.inject({ method: "POST", url: "/admin/clients", headers: admin, payload: { name: "gateway", scopes: ["introspect"] } })
  ).json();
  t.match(client, { client_id: String, client_secret: String, scopes: ["introspect"] });
  const probe = (secret: string) =>
    app.inject({
      method: "POST",
      url: "/introspect",
      headers: { authorization: basic(client.client_id, secret) },
      payload: { token: "x" },
    });
  t.equal((await probe(client.client_secret)).statusCode, 200);
  const rotated = (await app.inject({ method: "POST", url: `/admin/clients/${client.client_id}/secret`, headers: admin })).json();
  t.equal((await probe(client.client_secret)).statusCode, 401, "the old secret stops working");
  t.equal((await probe(rotated.client_secret)).statusCode, 200);
  t.equal(
    (await app.inject({ url: "/admin/keys", headers: { authorization: basic(client.client_id, rotated.client_secret) } })).statusCode,
    403,
    "no admin scope, no admin API",
  );
  t.equal((await app.inject({ method: "DELETE", url: `/admin/clients/${client.client_id}`, headers: admin })).statusCode, 204);
  t.equal((await probe(rotated.client_secret)).statusCode, 401, "a deleted client is refused");

  // Keys: list and rotate (pre-published, idempotent while pending).
  const keys = (await app.inject({ url: "/admin/keys", headers: admin })).json().keys;
  t.match(keys, [{ state: "active", alg: "ES256" }]);
  const r1 = await app.inject({ method: "POST", url: "/admin/keys/rotate", headers: admin });
  t.equal(r1.statusCode, 202);
  const r2 = (await app.inject({ method: "POST", url: "/admin/keys/rotate", headers: admin })).json();
  t.equal(r2.kid, r1.json().kid, "rotating twice returns the same pending key");
  const after = (await app.inject({ url: "/admin/keys", headers: admin })).json().keys;
  t.same(after.map((k: { state: string }) => k.state).sort(), ["active", "next"]);
  const jwks = (await app.inject({ url: "/.well-known/jwks.json" })).json().keys;
  t.equal(jwks.length, 2, "the next key is published before it signs");

  // Audit: filtered and paginated, newest first.
  const page1 = (await app.inject({ url: `/admin/audit?user=${userId}&limit=3`, headers: admin })).json();
  t.equal(page1.events.length, 3);
  t.type(page1.next_cursor, "string");
  const page2 = (await app.inject({ url: `/admin/audit?user=${userId}&limit=3&cursor=${page1.next_cursor}`, headers: admin })).json();
  t.ok(BigInt(page2.events[0].id) < BigInt(page1.events[2].id), "the next page is older");
  const typed = (await app.inject({ url: `/admin/audit?type=login_success&user=${userId}`, headers: admin })).json();
  t.ok(typed.events.length >= 3 && typed.events.every((e: { type: string }) => e.type === "login_success"));
  const revokedEvents = (await app.inject({ url: `/admin/audit?type=session_revoked&session=${s1.session_id}`, headers: admin })).json();
  t.match(
    revokedEvents.events,
    [{ actor: `client:${ADMIN.id}`, detail: { reason: "admin" } }],
    "the actor of an admin revocation is recorded",
  );
  const badRange = await app.inject({ url: "/admin/audit?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", headers: admin });
  t.equal(badRange.statusCode, 400);

  const noAuth = await app.inject({ url: "/admin/users" });
  t.equal(noAuth.statusCode, 401);
  t.equal(noAuth.json().error, "invalid_client");
});

t.test("the admin page is served with a strict content security policy", async (t) => {
  const { app } = await testApp(t, "embedded");
  const page = await app.inject({ url: "/admin" });
  t.equal(page.statusCode, 200);
  t.match(page.headers["content-type"], /text\/html/);
  t.match(page.headers["content-security-policy"], /script-src 'self'/);
  t.notMatch(page.headers["content-security-policy"], /unsafe-inline/);
  t.equal((await app.inject({ url: "/admin/app.js" })).statusCode, 200);
});
