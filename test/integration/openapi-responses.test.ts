import t, { type Test } from "tap";
import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import addFormats from "ajv-formats";
import { parse } from "yaml";
import { OPENAPI_PATH } from "../../src/http/routes/openapi.js";
import { testApp } from "../fixtures/app.js";
import { createClient } from "../fixtures/service-client.js";

/** Validates answers of the main flows against the response schemas in openapi.yaml. */
const doc = parse(readFileSync(OPENAPI_PATH, "utf8")) as {
  paths: Record<
    string,
    Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> } | { $ref: string }> }>
  >;
};
const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
ajv.addSchema({ ...doc, $id: "openapi" } as object);

function check(t: Test, method: string, path: string, res: { statusCode: number; body: string }) {
  let response = doc.paths[path]?.[method]?.responses[String(res.statusCode)];
  t.ok(response, `${method.toUpperCase()} ${path} documents ${res.statusCode}`);
  if (response && "$ref" in response) {
    const name = response.$ref.split("/").pop()!;
    response = (doc as unknown as { components: { responses: Record<string, { content?: Record<string, { schema: unknown }> }> } })
      .components.responses[name];
  }
  const schema = response && !("$ref" in response) ? response.content?.["application/json"]?.schema : undefined;
  if (!schema) return;
  const inline = ajv.compile(JSON.parse(JSON.stringify(schema).replace(/"#\/components/g, '"openapi#/components')));
  const ok = inline(JSON.parse(res.body));
  t.ok(ok, `${method.toUpperCase()} ${path} ${res.statusCode} matches its schema ${ok ? "" : ajv.errorsText(inline.errors)}`);
}

t.test("the main flows answer as openapi.yaml says", async (t) => {
  const ADMIN = { id: "oas-admin", secret: "oas-admin-secret-0123456789" };
  const { app, services, createUser, login } = await testApp(t, "postgres", {
    env: { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret },
  });
  const admin = { authorization: `Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString("base64")}` };
  const user = await createUser();
  const sibling = await createClient(services, ["introspect", "revoke", "revocations:read"]);

  const logged = await login(user.username, user.password);
  check(t, "post", "/login", logged);
  check(t, "post", "/login", await login(user.username, "wrong password"));
  const tokens = logged.json();
  const bearer = { authorization: `Bearer ${tokens.access_token}` };
  check(t, "get", "/sessions", await app.inject({ url: "/sessions", headers: bearer }));
  const refreshed = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: tokens.refresh_token } });
  check(t, "post", "/refresh", refreshed);
  const introspect = (token: string) =>
    app.inject({ method: "POST", url: "/introspect", headers: { authorization: sibling.basic }, payload: { token } });
  check(t, "post", "/introspect", await introspect(refreshed.json().access_token));
  for (const headers of [bearer, {}, { authorization: "Bearer forged" }])
    check(t, "get", "/forward-auth", await app.inject({ url: "/forward-auth", headers }));
  check(t, "get", "/revocations", await app.inject({ url: "/revocations", headers: { authorization: sibling.basic } }));
  check(t, "get", "/.well-known/jwks.json", await app.inject({ url: "/.well-known/jwks.json" }));
  check(t, "get", "/.well-known/oauth-authorization-server", await app.inject({ url: "/.well-known/oauth-authorization-server" }));
  // SPEC §11: an external user's session with claims, the user's view, a claims change, and their refusals.
  const upstream = await createClient(services, ["sessions:issue"]);
  const issue = (payload: Record<string, unknown>) =>
    app.inject({ method: "POST", url: "/sessions", headers: { authorization: upstream.basic }, payload });
  const issued = await issue({ external_subject: "oas|1", amr: ["otp"], acr: "loa2", claims: { tenant: "t1" } });
  check(t, "post", "/sessions", issued);
  check(t, "post", "/sessions", await issue({ external_subject: "oas|1", claims: { sub: "x" } }));
  const externalId = issued.json().user_id as string;
  const patchClaims = (claims: unknown) =>
    app.inject({ method: "PATCH", url: `/admin/users/${externalId}`, headers: admin, payload: { claims } });
  check(t, "patch", "/admin/users/{id}", await patchClaims({ role: "editor" }));
  check(t, "patch", "/admin/users/{id}", await patchClaims({ iss: "x" }));
  check(t, "get", "/admin/users/{id}", await app.inject({ url: `/admin/users/${externalId}`, headers: admin }));
  check(t, "get", "/admin/users/{id}", await app.inject({ url: "/admin/users/00000000-0000-4000-8000-000000000000", headers: admin }));
  const refreshedIssued = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: issued.json().refresh_token } });
  check(t, "post", "/introspect", await introspect(refreshedIssued.json().access_token));
  check(t, "get", "/admin/users", await app.inject({ url: "/admin/users", headers: admin }));
  check(t, "get", "/admin/users/{id}/sessions", await app.inject({ url: `/admin/users/${user.id}/sessions`, headers: admin }));
  check(t, "get", "/admin/keys", await app.inject({ url: "/admin/keys", headers: admin }));
  check(t, "get", "/admin/audit", await app.inject({ url: "/admin/audit", headers: admin }));
  check(t, "get", "/readyz", await app.inject({ url: "/readyz" }));
});
