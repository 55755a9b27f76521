import t from "tap";
import fc from "fast-check";
import { testApp } from "../fixtures/app.js";

/**
 * Drives every route with random and malformed input: never a 5xx, never a
 * stack trace or internal detail, never a token in an error answer.
 * FUZZ_RUNS sets the cases per route (default 1000).
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 1000);
const ADMIN = { id: "fuzz-admin", secret: "fuzz-admin-secret-0123456789" };

const ROUTES: Array<[string, string]> = [
  ["POST", "/login"],
  ["POST", "/refresh"],
  ["POST", "/logout"],
  ["GET", "/sessions"],
  ["DELETE", "/sessions"],
  ["DELETE", "/sessions/:id"],
  ["POST", "/introspect"],
  ["POST", "/revoke"],
  ["POST", "/sessions"],
  ["GET", "/revocations"],
  ["GET", "/.well-known/jwks.json"],
  ["GET", "/.well-known/oauth-authorization-server"],
  ["POST", "/admin/users"],
  ["GET", "/admin/users"],
  ["PATCH", "/admin/users/:id"],
  ["GET", "/admin/users/:id/sessions"],
  ["DELETE", "/admin/users/:id/sessions"],
  ["GET", "/admin/sessions/:id"],
  ["DELETE", "/admin/sessions/:id"],
  ["POST", "/admin/clients"],
  ["POST", "/admin/clients/:id/secret"],
  ["DELETE", "/admin/clients/:id"],
  ["GET", "/admin/keys"],
  ["GET", "/admin/audit"],
  ["GET", "/healthz"],
];

const FIELDS = [
  "username",
  "password",
  "transport",
  "refresh_token",
  "all",
  "token",
  "token_type_hint",
  "token_transport",
  "client_id",
  "client_secret",
  "subject",
  "user_agent",
  "ip",
  "name",
  "scopes",
  "disabled",
  "grant_type",
];

const weird = fc.oneof(
  fc.string({ maxLength: 64 }),
  fc.string({ unit: "binary", maxLength: 64 }),
  fc.constantFrom(
    "",
    " ",
    "null",
    "undefined",
    "0",
    "-1",
    "1e309",
    "NaN",
    "__proto__",
    "constructor",
    "../../etc/passwd",
    "%00",
    "\u0000",
    "a".repeat(5000),
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    "Bearer",
    "cookie",
  ),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }),
  fc.jsonValue({ maxDepth: 4 }),
);

const body = fc.oneof(
  fc.dictionary(fc.constantFrom(...FIELDS), weird, { maxKeys: 6 }),
  fc.jsonValue({ maxDepth: 6 }),
  fc.constant(undefined),
);

const payloadAndType = fc.oneof(
  body.map((b) => ({ payload: b === undefined ? undefined : JSON.stringify(b), type: "application/json" })),
  fc.dictionary(fc.constantFrom(...FIELDS), fc.string({ maxLength: 40 }), { maxKeys: 5 }).map((b) => ({
    payload: new URLSearchParams(b).toString(),
    type: "application/x-www-form-urlencoded",
  })),
  fc.string({ maxLength: 200 }).map((s) => ({ payload: s, type: "application/json" })),
  fc.string({ maxLength: 200 }).map((s) => ({
    payload: s,
    type: fc.sample(
      fc.constantFrom("text/plain", "application/xml", "multipart/form-data", "application/json; charset=utf-7", "x/y"),
      1,
    )[0],
  })),
);

const headers = fc.record(
  {
    authorization: fc.oneof(
      fc.string({ maxLength: 80 }).map((s) => `Bearer ${s}`),
      fc.string({ maxLength: 80 }).map((s) => `Basic ${Buffer.from(s).toString("base64")}`),
      fc.constant(`Basic ${Buffer.from(`${ADMIN.id}:${ADMIN.secret}`).toString("base64")}`),
      fc.string({ maxLength: 80 }),
    ),
    cookie: fc.string({ maxLength: 120 }).map((s) => `sa_access=${encodeURIComponent(s)}; sa_refresh=${encodeURIComponent(s)}; sa_csrf=x`),
    "x-csrf-token": fc.constantFrom("x", "", "y"),
    "user-agent": fc.string({ maxLength: 600 }),
    "last-event-id": fc.string({ maxLength: 30 }),
  },
  { requiredKeys: [] },
);

const param = fc.oneof(fc.uuid(), fc.string({ maxLength: 80 }), fc.constantFrom("..", "%2e%2e", "null", "0"));
const query = fc.dictionary(
  fc.constantFrom("q", "except", "cursor", "since", "limit", "user", "session", "type", "from", "to", "include_ended"),
  fc.string({ maxLength: 40 }),
  { maxKeys: 4 },
);

t.test("no route answers 5xx, leaks a stack trace or a token, whatever it is sent", { timeout: 900_000 }, async (t) => {
  const { app, logs } = await testApp(t, "postgres", { env: { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret } });
  let cases = 0;
  for (const [method, path] of ROUTES) {
    await fc.assert(
      fc.asyncProperty(payloadAndType, headers, param, query, async (pt, h, p, q) => {
        const url = path.replace(":id", encodeURIComponent(p)) + (Object.keys(q).length ? `?${new URLSearchParams(q)}` : "");
        const res = await app.inject({
          method: method as "GET",
          url,
          headers: { ...h, ...(pt.payload !== undefined && method !== "GET" ? { "content-type": pt.type } : {}) },
          ...(method !== "GET" && pt.payload !== undefined ? { payload: pt.payload } : {}),
        });
        cases++;
        if (res.statusCode >= 500) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body.slice(0, 300)}`);
        if (/\bat [\w.<>]+ \(|node_modules|\.ts:\d+|Prisma|prisma\./.test(res.body))
          throw new Error(`${method} ${url} leaked internals: ${res.body.slice(0, 300)}`);
        if (res.statusCode >= 400) {
          const err = res.json() as { error?: unknown; error_description?: unknown };
          if (typeof err.error !== "string" || typeof err.error_description !== "string")
            throw new Error(`${method} ${url}: error body not per SPEC: ${res.body.slice(0, 200)}`);
          if (/eyJ[\w-]+\.[\w-]+\./.test(res.body)) throw new Error(`${method} ${url}: a token in an error answer`);
        }
      }),
      { numRuns: path === "/healthz" ? 50 : RUNS },
    );
  }
  t.comment(`${cases} hostile requests across ${ROUTES.length} routes`);
  t.ok(cases >= RUNS, "the property ran");
  t.notMatch(logs.join(""), /"stack":".*\/src\/http\/routes/, "no route's own code threw an unhandled error");
});
