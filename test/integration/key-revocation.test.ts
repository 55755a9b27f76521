// SPEC §14 key compromise: POST /admin/keys/:kid/revoke (and keys:revoke)
// takes the key out of the JWKS, makes its tokens inactive at once for
// introspection, the service and verifiers (a { kid, exp } entry on the list
// and the stream), and makes a new key sign immediately.
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import t from "tap";
import { runCli } from "../../src/cli/main.js";
import { TokenInvalidError, TokenRevokedError } from "../../src/verifier/index.js";
import { verifierFor } from "../fixtures/verifier.js";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { FakeClock } from "../fixtures/clock.js";
import { eventually } from "../fixtures/eventually.js";
import { freshRedisPrefix, redisTestUrl } from "../fixtures/redis.js";
import { basicAuth, createClient } from "../fixtures/service-client.js";
import { webhookReceiver } from "../fixtures/webhook-receiver.js";

const ADMIN = { id: "keys-admin", secret: "keys-admin-secret-0123456789" };
const env = { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret };
const admin = { authorization: basicAuth(ADMIN.id, ADMIN.secret) };
const kidOf = (token: string) => decodeProtectedHeader(token).kid!;

async function introspect(ta: TestApp, token: string, basic: string) {
  return (await ta.app.inject({ method: "POST", url: "/introspect", headers: { authorization: basic }, payload: { token } })).json()
    .active as boolean;
}

for (const mode of MODES) {
  t.test(`${mode}: a revoked key leaves the JWKS, its tokens stop at once, and a new key signs now`, async (t) => {
    const ta = await testApp(t, mode, { env });
    const rx = await webhookReceiver(t);
    await ta.app.inject({ method: "POST", url: "/admin/webhooks", headers: admin, payload: { url: rx.url(), events: ["key.revoked"] } });
    const sibling = await createClient(ta.services, ["introspect", "revocations:read"]);
    const u = await ta.createUser();
    const before = (await ta.login(u.username, u.password)).json();
    const compromised = kidOf(before.access_token);
    t.ok(await introspect(ta, before.access_token, sibling.basic), "active before");

    const res = await ta.app.inject({ method: "POST", url: `/admin/keys/${compromised}/revoke`, headers: admin });
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.match(body, { kid: compromised, revoked: true, signing_kid: String });
    t.not(body.signing_kid, compromised);

    t.notOk(await introspect(ta, before.access_token, sibling.basic), "introspection: inactive at once");
    t.equal(
      (await ta.app.inject({ url: "/sessions", headers: { authorization: `Bearer ${before.access_token}` } })).statusCode,
      401,
      "the service refuses it",
    );
    const jwks = (await ta.app.inject({ url: "/.well-known/jwks.json" })).json();
    t.notOk(
      jwks.keys.some((k: { kid: string }) => k.kid === compromised),
      "out of the JWKS",
    );
    const list = (await ta.app.inject({ url: "/revocations", headers: { authorization: sibling.basic } })).json();
    t.match(list.entries, [{ kid: compromised, exp: Number }], "a { kid, exp } entry on the list");
    t.ok(list.entries[0].exp * 1000 >= ta.clock.now().getTime() + 10 * 60_000, "living as long as a token it signed could");

    // No pre-publication wait: a new login is signed by the new key and verifies against the JWKS served now.
    const after = (await ta.login(u.username, u.password)).json();
    t.equal(kidOf(after.access_token), body.signing_kid);
    const verified = await jwtVerify(after.access_token, createLocalJWKSet(jwks), { currentDate: ta.clock.now() });
    t.equal(verified.payload.sub, u.id);
    t.ok(await introspect(ta, after.access_token, sibling.basic), "the new key's tokens are active");
    // The session itself lives on: its refresh token gets a token of the new key.
    const refreshed = await ta.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: before.refresh_token } });
    t.equal(refreshed.statusCode, 200);
    t.equal(kidOf(refreshed.json().access_token), body.signing_kid);

    t.equal(
      (await ta.app.inject({ method: "POST", url: `/admin/keys/${compromised}/revoke`, headers: admin })).statusCode,
      200,
      "repeating it is harmless",
    );
    t.equal((await ta.app.inject({ method: "POST", url: "/admin/keys/no-such-kid/revoke", headers: admin })).statusCode, 404);
    t.equal((await ta.app.inject({ method: "POST", url: "/admin/keys/bad%20kid/revoke", headers: admin })).statusCode, 400);
    t.equal((await ta.app.inject({ method: "POST", url: `/admin/keys/${body.signing_kid}/revoke` })).statusCode, 401);

    await ta.services.webhookWorker.tick();
    const events = rx.at().map((r) => JSON.parse(r.body));
    t.match(
      events,
      [{ type: "key.revoked", data: { kid: compromised, replacement_kid: body.signing_kid, actor: `client:${ADMIN.id}` } }],
      "key.revoked is delivered",
    );
  });
}

t.test("across instances and to a streaming verifier: a token of the revoked key is rejected at once", async (t) => {
  const clock = new FakeClock();
  const redis = { env: { ...env, REDIS_URL: redisTestUrl() }, serviceOptions: { redisKeyPrefix: freshRedisPrefix(t), background: true } };
  const a = await testApp(t, "postgres", { clock, ...redis, appOptions: { sseHeartbeatMs: 500 } });
  const b = await testApp(t, "postgres", { clock, ...redis, storage: { url: a.services.config.storage.databaseUrl! } });
  const u = await a.createUser();
  const address = await a.app.listen({ host: "127.0.0.1", port: 0 });
  const { verifier, client: sibling } = await verifierFor(t, a, address, { maxStalenessMs: 5_000 }, ["introspect", "revocations:read"]);
  await verifier.ready();

  const old = (await b.login(u.username, u.password)).json();
  const compromised = kidOf(old.access_token);
  t.ok(await verifier.verify(old.access_token, { transport: "header" }), "the verifier accepts it before");
  t.ok(await introspect(a, old.access_token, sibling.basic));
  t.ok(await introspect(b, old.access_token, sibling.basic));

  const res = await a.app.inject({ method: "POST", url: `/admin/keys/${compromised}/revoke`, headers: admin });
  t.equal(res.statusCode, 200);
  // Once the call has answered, no instance reports the token active.
  t.notOk(await introspect(b, old.access_token, sibling.basic), "the other instance: inactive at once");
  t.notOk(await introspect(a, old.access_token, sibling.basic));
  t.equal((await b.app.inject({ url: "/sessions", headers: { authorization: `Bearer ${old.access_token}` } })).statusCode, 401);
  const fresh = await b.login(u.username, u.password);
  t.equal(fresh.statusCode, 200, "the other instance signs with the new key, not the revoked one");
  t.equal(kidOf(fresh.json().access_token), res.json().signing_kid);
  t.ok(await introspect(a, fresh.json().access_token, sibling.basic));

  // The JWKS is cached for 5 minutes (its max-age): a rejection within seconds comes from the kid entry,
  // first as a revoked token, then (after the refetch it triggers) as one of an unknown key.
  const rejected = await eventually(
    () =>
      verifier.verify(old.access_token, { transport: "header" }).then(
        () => null,
        (err) => (err instanceof TokenRevokedError || err instanceof TokenInvalidError ? err : null),
      ),
    2_000,
  );
  t.ok(rejected, `the streaming verifier rejects the revoked key's token (${rejected?.code})`);
  t.match(await verifier.verify(fresh.json().access_token, { transport: "header" }), { sub: u.id }, "and accepts the new key's at once");
  await verifier.close(); // before the apps close: its stream would hold the server open
});

t.test("CLI keys:revoke", async (t) => {
  const ta = await testApp(t, "postgres", { env });
  const u = await ta.createUser();
  const token = (await ta.login(u.username, u.password)).json().access_token;
  const out: string[] = [];
  const code = await runCli(
    ["keys:revoke", kidOf(token)],
    { DATABASE_URL: ta.services.config.storage.databaseUrl!, KEY_ENCRYPTION_KEY: "test-key-encryption-key-0123456789abcdef" },
    { out: (l) => out.push(l), err: () => {}, stdin: async () => "" },
  );
  t.equal(code, 0);
  t.match(JSON.parse(out.at(-1)!), { kid: kidOf(token), revoked: true, replacement_kid: String });
  await ta.services.keys.reload();
  t.notOk(
    ta.services.keys.jwks().keys.some((k) => k.kid === kidOf(token)),
    "the running service no longer publishes it after its reload",
  );
  const bad = await runCli(["keys:revoke"], {}, { out: () => {}, err: () => {}, stdin: async () => "" });
  t.equal(bad, 2, "usage");
});
