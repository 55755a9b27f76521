// SPEC §5: bad input is a clear 4xx, never a 5xx. Postgres stores no NUL
// and jsonb no unpaired surrogate; a string any schema accepts must be
// refused before it reaches either (400 invalid_request), on every route and
// in both storage modes. Error descriptions never repeat what was sent.
import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";
import { basicAuth, createClient } from "../fixtures/service-client.js";

const NUL = "a\u0000b";
const HIGH = "a\ud800b";
const LOW = "\udc00";

for (const mode of MODES) {
  t.test(
    `${mode}: NUL bytes and lone surrogates anywhere in the input are 400 invalid_request, never a 500`,
    { timeout: 120_000 },
    async (t) => {
      const { app, services, createUser } = await testApp(t, mode);
      const admin = await createClient(services, ["admin", "introspect", "revoke", "sessions:issue"]);
      const user = await createUser();
      const auth = { authorization: admin.basic };
      const cases: Array<{
        what: string;
        method: "GET" | "POST" | "PATCH" | "DELETE";
        url: string;
        payload?: object;
        raw?: string;
        headers?: Record<string, string>;
      }> = [];
      for (const [name, bad] of [
        ["NUL", NUL],
        ["high surrogate", HIGH],
        ["low surrogate", LOW],
      ] as const) {
        cases.push(
          { what: `login username with ${name}`, method: "POST", url: "/login", payload: { username: bad, password: "whatever-password" } },
          { what: `login password with ${name}`, method: "POST", url: "/login", payload: { username: user.username, password: bad } },
          {
            what: `admin user create with ${name}`,
            method: "POST",
            url: "/admin/users",
            payload: { username: bad, password: "a long enough password" },
            headers: auth,
          },
          {
            what: `admin client name with ${name}`,
            method: "POST",
            url: "/admin/clients",
            payload: { name: bad, scopes: ["introspect"] },
            headers: auth,
          },
          {
            what: `admin user search with ${name}`,
            method: "GET",
            url: `/admin/users?q=${encodeURIComponent(bad.replace(/[\ud800-\udfff]/g, "x"))}${name === "NUL" ? "" : "%00"}`,
            headers: auth,
          },
          { what: `introspect token with ${name}`, method: "POST", url: "/introspect", payload: { token: bad }, headers: auth },
          { what: `revoke token with ${name}`, method: "POST", url: "/revoke", payload: { token: bad }, headers: auth },
          {
            what: `issue session user_agent with ${name}`,
            method: "POST",
            url: "/sessions",
            payload: { subject: user.id, user_agent: bad },
            headers: auth,
          },
          { what: `refresh token with ${name}`, method: "POST", url: "/refresh", payload: { refresh_token: bad } },
          {
            what: `an ignored extension parameter's name with ${name}`,
            method: "POST",
            url: "/introspect",
            payload: { token: "x", [bad]: "1" },
            headers: auth,
          },
        );
      }
      cases.push(
        {
          what: "a NUL in the user agent of a login",
          method: "POST",
          url: "/login",
          payload: { username: user.username, password: user.password },
          headers: { "user-agent": NUL },
        },
        { what: "a NUL in a path parameter", method: "GET", url: "/admin/sessions/a%00b", headers: auth },
        {
          what: "a NUL in a form field",
          method: "POST",
          url: "/introspect",
          raw: "token=a%00b",
          headers: { ...auth, "content-type": "application/x-www-form-urlencoded" },
        },
      );
      for (const c of cases) {
        const res = await app.inject({
          method: c.method,
          url: c.url,
          headers: c.headers ?? {},
          ...(c.raw !== undefined ? { payload: c.raw } : c.payload !== undefined ? { payload: c.payload } : {}),
        });
        t.equal(
          res.statusCode,
          400,
          res.statusCode === 400 ? `${c.what}: 400` : `${c.what}: 400 (${res.statusCode} ${res.body.slice(0, 160)})`,
        );
        t.equal(res.json().error, "invalid_request", `${c.what}: invalid_request`);
      }

      // Client credentials decoded from a Basic header are looked up in Postgres too.
      const nulId = await app.inject({
        method: "POST",
        url: "/introspect",
        headers: { authorization: basicAuth(NUL, "secret") },
        payload: { token: "x" },
      });
      t.equal(nulId.statusCode, 401, `a NUL in a Basic client id is invalid_client (${nulId.statusCode} ${nulId.body.slice(0, 120)})`);

      // The sound input still works.
      const ok = await app.inject({ method: "POST", url: "/login", payload: { username: user.username, password: user.password } });
      t.equal(ok.statusCode, 200, "a storable login still works");
      const emoji = await app.inject({
        method: "POST",
        url: "/admin/clients",
        payload: { name: "ok \u{1F600} pair", scopes: ["introspect"] },
        headers: auth,
      });
      t.equal(emoji.statusCode, 201, "a surrogate pair (an emoji) is storable and accepted");
    },
  );
}

t.test("error descriptions never repeat the input: unknown field names, unknown paths, repeated form parameters", async (t) => {
  const { app } = await testApp(t, "embedded");
  const secretish = "rt_Zx9QkLm2VbN8wPq4TsYc7HjD3fGa6KeR1uIoWxE5nBvM";
  const unknownField = await app.inject({ method: "POST", url: "/refresh", payload: { [secretish]: 1 } });
  t.equal(unknownField.statusCode, 400, "an unknown field is 400");
  t.notMatch(unknownField.body, secretish.slice(0, 12), `the unknown field's name is not echoed: ${unknownField.body}`);
  const unknownLogin = await app.inject({ method: "POST", url: "/login", payload: { username: "u", password: "p", [secretish]: "x" } });
  t.notMatch(unknownLogin.body, secretish.slice(0, 12), `nor on /login: ${unknownLogin.body}`);
  const path = await app.inject({ method: "GET", url: `/no/such/${secretish}` });
  t.equal(path.statusCode, 404, "an unknown path is 404");
  t.notMatch(path.body, secretish.slice(0, 12), `the path is not echoed: ${path.body}`);
  const repeated = await app.inject({
    method: "POST",
    url: "/introspect",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    payload: `${secretish}=1&${secretish}=2`,
  });
  t.equal(repeated.statusCode, 400, "a repeated form parameter is 400");
  t.notMatch(repeated.body, secretish.slice(0, 12), `its name is not echoed: ${repeated.body}`);
});
