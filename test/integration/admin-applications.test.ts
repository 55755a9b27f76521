import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";
import { basicAuth, createClient } from "../fixtures/service-client.js";

const ADMIN = { id: "test-admin", secret: "test-admin-secret-0123456789" };
const admin = { authorization: basicAuth(ADMIN.id, ADMIN.secret) };
const env = { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret };

for (const mode of MODES) {
  t.test(`${mode}: applications are created, listed, read, merged by PATCH and deleted`, async (t) => {
    const { app, services } = await testApp(t, mode, { env });
    const created = await app.inject({
      method: "POST",
      url: "/admin/applications",
      headers: admin,
      payload: {
        id: "web",
        name: "Web SPA",
        transports: ["cookie"],
        origins: ["https://app.example.com/", "https://app.example.com"],
        policy: { access_token_ttl: "5m", refresh_token_ttl: 3600, max_sessions_per_user: 3, on_limit: "deny" },
      },
    });
    t.equal(created.statusCode, 201, created.body);
    t.match(created.json(), {
      id: "web",
      name: "Web SPA",
      transports: ["cookie"],
      origins: ["https://app.example.com"],
      policy: { access_token_ttl: 300, refresh_token_ttl: 3600, max_sessions_per_user: 3, on_limit: "deny" },
      effective_policy: { access_token_ttl: 300, refresh_token_ttl: 3600, session_max_lifetime: 30 * 86400 },
    });
    t.notOk("session_max_lifetime" in created.json().policy, "a field left out is not set");
    t.ok(services.applications.get("web"), "this instance's cache knows it at once");

    const list = (await app.inject({ url: "/admin/applications", headers: admin })).json();
    t.same(
      list.applications.map((a: { id: string }) => a.id),
      ["default", "web"],
    );
    t.equal((await app.inject({ url: "/admin/applications/web", headers: admin })).json().name, "Web SPA");

    const patched = await app.inject({
      method: "PATCH",
      url: "/admin/applications/web",
      headers: admin,
      payload: { name: "Web", policy: { refresh_token_ttl: null, session_max_lifetime: "7d" } },
    });
    t.equal(patched.statusCode, 200, patched.body);
    t.match(patched.json(), {
      name: "Web",
      transports: ["cookie"],
      policy: { access_token_ttl: 300, session_max_lifetime: 7 * 86400, max_sessions_per_user: 3, on_limit: "deny" },
      policy_effect: { sessions_ended: 0, sessions_shortened: 0, users_over_limit: 0, sample: [] },
    });
    t.notOk("refresh_token_ttl" in patched.json().policy, "null returned the field to the default");
    t.equal(services.applications.get("web")?.resolved.sessionMaxLifetimeMs, 7 * 86_400_000, "the cache reloaded");

    const audit = (await app.inject({ url: "/admin/audit?type=application_updated", headers: admin })).json().events;
    t.match(audit[0], {
      actor: `client:${ADMIN.id}`,
      detail: {
        application_id: "web",
        before: { policy: { refresh_token_ttl: 3600 } },
        after: { policy: { session_max_lifetime: 604800 } },
      },
    });

    const removed = await app.inject({ method: "DELETE", url: "/admin/applications/web", headers: admin });
    t.equal(removed.statusCode, 204);
    t.equal((await app.inject({ url: "/admin/applications/web", headers: admin })).statusCode, 404);
    t.notOk(services.applications.get("web"));
  });

  t.test(`${mode}: every bad request is a 4xx with the SPEC's error codes`, async (t) => {
    const { app, services } = await testApp(t, mode, { env });
    const post = (payload: unknown, headers = admin) =>
      app.inject({ method: "POST", url: "/admin/applications", headers, payload: payload as object });
    const expect = async (res: Promise<{ statusCode: number; json(): { error: string } }>, status: number, code: string, what: string) => {
      const r = await res;
      t.equal(r.statusCode, status, what);
      t.equal(r.json().error, code, what);
    };
    await expect(post({ id: "x", name: "X" }, {} as typeof admin), 401, "invalid_client", "no credentials");
    const other = await createClient(services, ["introspect"]);
    await expect(post({ id: "x", name: "X" }, { authorization: other.basic }), 403, "forbidden", "a client without scope admin");
    await expect(post({ id: "Bad Id", name: "X" }), 400, "invalid_request", "an id outside [a-z0-9._-]");
    await expect(post({ id: "a".repeat(65), name: "X" }), 400, "invalid_request", "an id longer than 64");
    await expect(post({ name: "X" }), 400, "invalid_request", "no id");
    await expect(post({ id: "x" }), 400, "invalid_request", "no name");
    await expect(post({ id: "x", name: "X", transports: [] }), 400, "invalid_request", "no transport");
    await expect(post({ id: "x", name: "X", transports: ["carrier-pigeon"] }), 400, "invalid_request", "an unknown transport");
    await expect(post({ id: "x", name: "X", origins: ["https://a.example/path"] }), 400, "invalid_request", "an origin with a path");
    await expect(post({ id: "x", name: "X", origins: ["javascript:alert(1)"] }), 400, "invalid_request", "not an http origin");
    await expect(post({ id: "x", name: "X", policy: { access_token_ttl: "soon" } }), 400, "invalid_request", "a bad duration");
    await expect(post({ id: "x", name: "X", policy: { access_token_ttl: 1.5 } }), 400, "invalid_request", "fractional seconds");
    await expect(post({ id: "x", name: "X", policy: { max_sessions_per_user: 0 } }), 400, "invalid_request", "a zero limit");
    await expect(post({ id: "x", name: "X", policy: { on_limit: "shrug" } }), 400, "invalid_request", "an unknown on_limit");
    await expect(post({ id: "x", name: "X", policy: { ttl: 5 } }), 400, "invalid_request", "an unknown policy field");
    await expect(
      post({ id: "x", name: "X", policy: { access_token_ttl: "2h", refresh_token_ttl: "1h" } }),
      400,
      "invalid_request",
      "access lifetime longer than refresh lifetime",
    );
    await expect(
      post({ id: "x", name: "X", policy: { refresh_token_ttl: "1s" } }),
      400,
      "invalid_request",
      "refresh shorter than the default access lifetime",
    );
    await expect(post({ id: "default", name: "again" }), 409, "conflict", "the default exists");
    t.equal((await post({ id: "x", name: "X" })).statusCode, 201);
    await expect(post({ id: "x", name: "X" }), 409, "conflict", "a duplicate id");

    const patch = (id: string, payload: unknown) =>
      app.inject({ method: "PATCH", url: `/admin/applications/${id}`, headers: admin, payload: payload as object });
    await expect(patch("nope", { name: "N" }), 404, "not_found", "PATCH of an unknown application");
    await expect(patch("x", { id: "y" }), 400, "invalid_request", "the id cannot be patched");
    await expect(
      patch("x", { policy: { refresh_token_ttl: "1m", access_token_ttl: "2m" } }),
      400,
      "invalid_request",
      "PATCH: access > refresh",
    );
    await expect(
      patch("default", { policy: { max_sessions_per_user: 2 } }),
      409,
      "conflict",
      "the default follows the service-wide policy",
    );
    t.equal((await patch("default", { name: "Default", origins: ["http://localhost:5173"] })).statusCode, 200, "its other fields change");

    const del = (id: string) => app.inject({ method: "DELETE", url: `/admin/applications/${id}`, headers: admin });
    await expect(del("default"), 409, "conflict", "default cannot be deleted");
    await expect(del("nope"), 404, "not_found", "DELETE of an unknown application");

    const dry = (id: string, payload: unknown) =>
      app.inject({ method: "POST", url: `/admin/applications/${id}/policy/dry-run`, headers: admin, payload: payload as object });
    await expect(dry("nope", { policy: {} }), 404, "not_found", "dry run of an unknown application");
    await expect(dry("x", {}), 400, "invalid_request", "dry run without a policy");
    await expect(dry("x", { policy: { refresh_token_ttl: "0s" } }), 400, "invalid_request", "dry run of a bad policy");
    const fine = await dry("x", { policy: { max_sessions_per_user: 1 } });
    t.equal(fine.statusCode, 200);
    t.same(fine.json(), { sessions_ended: 0, sessions_shortened: 0, users_over_limit: 0, sample: [] });
    t.notOk(
      (await app.inject({ url: "/admin/applications/x", headers: admin })).json().policy.max_sessions_per_user,
      "a dry run changes nothing",
    );
  });
}
