import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import t from "tap";
import { testApp, type Mode } from "../fixtures/app.js";
import { FakeClock, SECOND } from "../fixtures/clock.js";
import { basicAuth, createClient } from "../fixtures/service-client.js";

const introspect = (payload: Record<string, unknown> | string, headers: Record<string, string> = {}) => ({
  method: "POST" as const,
  url: "/introspect",
  payload,
  headers: typeof payload === "string" ? { "content-type": "application/x-www-form-urlencoded", ...headers } : headers,
});

for (const mode of ["postgres", "embedded"] as Mode[]) {
  t.test(`${mode}: a client authenticates by HTTP Basic or in the body, never both (RFC 6749 §2.3.1)`, async (t) => {
    const { app, services } = await testApp(t, mode);
    const client = await createClient(services, ["introspect"]);

    const basic = await app.inject(introspect({ token: "x" }, { authorization: client.basic }));
    t.equal(basic.statusCode, 200);
    t.same(basic.json(), { active: false });

    const json = await app.inject(introspect({ token: "x", client_id: client.id, client_secret: client.secret }));
    t.equal(json.statusCode, 200, "client_secret_post in JSON");

    const form = await app.inject(
      introspect(new URLSearchParams({ token: "x", client_id: client.id, client_secret: client.secret }).toString()),
    );
    t.equal(form.statusCode, 200, "client_secret_post in a form");

    const both = await app.inject(
      introspect({ token: "x", client_id: client.id, client_secret: client.secret }, { authorization: client.basic }),
    );
    t.equal(both.statusCode, 400);
    t.equal(both.json().error, "invalid_request", "two authentication methods at once are refused");

    const halfBody = await app.inject(introspect({ token: "x", client_id: client.id }));
    t.equal(halfBody.statusCode, 400);
  });

  t.test(`${mode}: bad client credentials are 401 invalid_client with a Basic challenge`, async (t) => {
    const { app, services } = await testApp(t, mode);
    const client = await createClient(services, ["introspect"]);

    const wrong = await app.inject(introspect({ token: "x" }, { authorization: basicAuth(client.id, "not-the-secret") }));
    t.equal(wrong.statusCode, 401);
    t.equal(wrong.json().error, "invalid_client");
    t.match(wrong.headers["www-authenticate"], /^Basic /);

    const unknown = await app.inject(introspect({ token: "x" }, { authorization: basicAuth("no-such-client", client.secret) }));
    t.equal(unknown.statusCode, 401);
    t.same(unknown.json(), wrong.json(), "an unknown client and a wrong secret answer alike");

    const wrongBody = await app.inject(introspect({ token: "x", client_id: client.id, client_secret: "nope" }));
    t.equal(wrongBody.statusCode, 401);
    t.equal(wrongBody.json().error, "invalid_client");

    const none = await app.inject(introspect({ token: "x" }));
    t.equal(none.statusCode, 401);
    t.equal(none.json().error, "invalid_client");
    t.match(none.headers["www-authenticate"], /^Basic /);

    for (const authorization of [
      "Basic !!!",
      "Basic " + Buffer.from("no-colon").toString("base64"),
      "Bearer abc",
      "Basic " + Buffer.from("%zz:x").toString("base64"),
    ]) {
      const res = await app.inject(introspect({ token: "x" }, { authorization }));
      t.equal(res.statusCode, 401, `malformed: ${authorization}`);
      t.equal(res.json().error, "invalid_client");
    }
  });
}

t.test("a client without the scope is 403 forbidden", async (t) => {
  const { app, services } = await testApp(t, "postgres");
  const reader = await createClient(services, ["revocations:read"]);
  const res = await app.inject(introspect({ token: "x" }, { authorization: reader.basic }));
  t.equal(res.statusCode, 403);
  t.equal(res.json().error, "forbidden");
  const calls = [
    { url: "/revoke", payload: { token: "x" } },
    { url: "/sessions", payload: { subject: "00000000-0000-4000-8000-000000000000" } },
  ];
  for (const { url, payload } of calls) {
    const r = await app.inject({ method: "POST", url, payload, headers: { authorization: reader.basic } });
    t.equal(r.statusCode, 403, `POST ${url}`);
  }
  const admin = await createClient(services, ["admin"]);
  const noImplied = await app.inject(introspect({ token: "x" }, { authorization: admin.basic }));
  t.equal(noImplied.statusCode, 403, "admin does not imply the service scopes");
});

t.test("secrets are stored hashed: SHA-256 for generated ones, argon2id for ADMIN_CLIENT_SECRET", async (t) => {
  const { services } = await testApp(t, "postgres", {
    env: { ADMIN_CLIENT_ID: "ops-admin", ADMIN_CLIENT_SECRET: "operator-chosen-secret-1" },
  });
  const client = await createClient(services, ["introspect"]);
  const rows = await services.db.prisma.serviceClient.findMany({ orderBy: { createdAt: "asc" } });
  const generated = rows.find((r) => r.id === client.id)!;
  t.match(generated.secretHash, /^sha256:[A-Za-z0-9_-]{43}$/);
  t.notMatch(generated.secretHash, client.secret);
  const admin = rows.find((r) => r.id === "ops-admin")!;
  t.match(admin.secretHash, /^\$argon2id\$/);
  t.same(admin.scopes, ["admin"]);
});

t.test("ADMIN_CLIENT_ID/SECRET make sure an admin client with exactly that secret exists at start", async (t) => {
  const first = await testApp(t, "postgres", { env: { ADMIN_CLIENT_ID: "ops-admin", ADMIN_CLIENT_SECRET: "first-secret-0123456789" } });
  const url = first.services.config.storage.databaseUrl!;
  const probe = (app: typeof first.app, secret: string) =>
    app.inject(introspect({ token: "x" }, { authorization: basicAuth("ops-admin", secret) })).then((r) => r.statusCode);
  t.equal(await probe(first.app, "first-secret-0123456789"), 403, "authenticates (and lacks introspect)");

  await first.services.clients.remove("ops-admin", "test");
  const second = await testApp(t, "postgres", {
    storage: { url },
    env: { ADMIN_CLIENT_ID: "ops-admin", ADMIN_CLIENT_SECRET: "second-secret-0123456789" },
  });
  t.equal(await probe(second.app, "second-secret-0123456789"), 403, "a deleted admin client is recreated with the new secret");
  t.equal(await probe(second.app, "first-secret-0123456789"), 401, "the old secret no longer works");
});

t.test("embedded first start creates an admin client and shows its credentials once, outside the logs", async (t) => {
  const lines: string[] = [];
  const shown: Array<{ id: string; secret: string }> = [];
  const log = { info: (m: string) => lines.push(m), error: () => {} };
  const onAdminBootstrap = (c: { id: string; secret: string }) => shown.push(c);
  const first = await testApp(t, "embedded", { serviceOptions: { background: true, log, onAdminBootstrap } });
  t.equal(shown.length, 1, "the credentials are shown on the first start");
  const { id, secret } = shown[0]!;
  t.ok(
    lines.some((l) => l.includes(id)),
    "the log says an admin client was created",
  );
  t.notOk(
    lines.some((l) => l.includes(secret)),
    "the secret itself never reaches the log",
  );
  const res = await first.app.inject({ method: "GET", url: "/revocations", headers: { authorization: basicAuth(id, secret) } });
  t.equal(res.statusCode, 403, "they authenticate; the client has scope admin only");
  const dataDir = first.services.config.storage.dataDir;
  // Kept where the README's walk-through and the CLI find them, owner-only.
  const file = join(dataDir, "admin-client.env");
  t.equal(
    await readFile(file, "utf8"),
    `ADMIN_CLIENT_ID=${id}\nADMIN_CLIENT_SECRET=${secret}\n`,
    "the data folder keeps them as shell assignments",
  );
  t.equal((await stat(file)).mode & 0o777, 0o600, "readable by the owner only");
  await first.app.close();
  await first.services.close();

  await testApp(t, "embedded", { storage: { dataDir }, serviceOptions: { background: true, log, onAdminBootstrap } });
  t.equal(shown.length, 1, "a later start shows nothing");
});

t.test("a deleted client or a rotated secret stops working at once here, and within the cache TTL elsewhere", async (t) => {
  const clock = new FakeClock();
  const a = await testApp(t, "postgres", { clock });
  const b = await testApp(t, "postgres", { clock, storage: { url: a.services.config.storage.databaseUrl! } });
  const client = await createClient(a.services, ["introspect"]);
  const status = (app: typeof a.app, auth: string) =>
    app.inject(introspect({ token: "x" }, { authorization: auth })).then((r) => r.statusCode);

  t.equal(await status(a.app, client.basic), 200);
  t.equal(await status(b.app, client.basic), 200, "B caches the verified credential");

  const { secret } = await a.services.clients.rotateSecret(client.id, "test");
  t.equal(await status(a.app, client.basic), 401, "the old secret fails at once on the instance that rotated it");
  t.equal(await status(a.app, basicAuth(client.id, secret)), 200);
  t.equal(await status(b.app, client.basic), 200, "another instance may still accept it for the cache TTL");
  clock.advance(1 * SECOND + 1);
  t.equal(await status(b.app, client.basic), 401, "and not after it");

  await a.services.clients.remove(client.id, "test");
  t.equal(await status(a.app, basicAuth(client.id, secret)), 401, "a deleted client fails at once");
  clock.advance(1 * SECOND + 1);
  t.equal(await status(b.app, basicAuth(client.id, secret)), 401);

  const audit = await a.services.db.prisma.auditEvent.findMany({ where: { type: { startsWith: "client_" } }, orderBy: { id: "asc" } });
  t.same(
    audit.map((e) => e.type),
    ["client_created", "client_secret_rotated", "client_deleted"],
  );
});

t.test("a Basic header the guard remembers is still checked against the client on every call", async (t) => {
  const clock = new FakeClock();
  const a = await testApp(t, "postgres", { clock });
  const b = await testApp(t, "postgres", { clock, storage: { url: a.services.config.storage.databaseUrl! } });
  const admin = await createClient(a.services, ["admin"], "admin");
  const client = await createClient(a.services, ["introspect"]);
  const status = (app: typeof a.app, auth: string, body: Record<string, unknown> = {}) =>
    app.inject(introspect({ token: "x", ...body }, { authorization: auth })).then((r) => r.statusCode);
  // Several calls each: from the second on, the header is decoded from memory (src/clients/verified-basic.ts).
  for (let i = 0; i < 3; i++) {
    t.equal(await status(a.app, client.basic), 200);
    t.equal(await status(b.app, client.basic), 200);
  }
  t.equal(
    await status(a.app, client.basic, { client_id: client.id, client_secret: client.secret }),
    400,
    "both methods at once stay invalid_request",
  );
  t.equal(await status(a.app, basicAuth(client.id, "not-the-secret")), 401, "a wrong secret for the same id fails");
  t.equal(await status(a.app, client.basic), 200, "and does not evict the right one");

  const rotated = await a.app.inject({
    method: "POST",
    url: `/admin/clients/${client.id}/secret`,
    headers: { authorization: admin.basic },
  });
  t.equal(rotated.statusCode, 200);
  const fresh = basicAuth(client.id, (rotated.json() as { client_secret: string }).client_secret);
  t.equal(await status(a.app, client.basic), 401, "the rotated-out secret fails at once on the instance that rotated it");
  t.equal(await status(a.app, client.basic), 401, "and again (the remembered header was dropped)");
  t.equal(await status(b.app, client.basic), 200, "another instance may accept it within the cache TTL");
  clock.advance(1 * SECOND + 1);
  t.equal(await status(b.app, client.basic), 401, "and not after it");
  for (let i = 0; i < 3; i++) t.equal(await status(b.app, fresh), 200);

  const deleted = await a.app.inject({ method: "DELETE", url: `/admin/clients/${client.id}`, headers: { authorization: admin.basic } });
  t.equal(deleted.statusCode, 204);
  t.equal(await status(a.app, fresh), 401, "a deleted client fails at once");
  clock.advance(1 * SECOND + 1);
  t.equal(await status(b.app, fresh), 401, "and on another instance after the TTL");
});
