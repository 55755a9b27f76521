import t from "tap";
import { cookiesOf, MODES, testApp } from "../fixtures/app.js";

const cookieHeader = (jar: Record<string, string>) =>
  Object.entries(jar)
    .map(([k, v]) => `${k}=${v}`)
    .join("; ");

for (const mode of MODES) {
  t.test(`${mode}: cookie sessions end to end, with CSRF and transport binding`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser();

    const res = await login(user.username, user.password, { transport: "cookie" });
    t.equal(res.statusCode, 200);
    t.same(Object.keys(res.json()).sort(), ["csrf_token", "expires_in", "session_id"], "the body carries no token");
    const set = cookiesOf(res);
    t.match(set.sa_access, { httpOnly: true, path: "/", sameSite: "Strict" });
    t.match(set.sa_refresh, { httpOnly: true, path: "/refresh", sameSite: "Strict" });
    t.notOk(set.sa_csrf!.httpOnly, "the CSRF cookie is readable by the page");
    const jar = { sa_access: set.sa_access!.value, sa_csrf: set.sa_csrf!.value };
    const csrf = set.sa_csrf!.value;
    t.equal(res.json().csrf_token, csrf, "the body carries the CSRF value, for a page that cannot read the cookie (SPEC §13)");

    const listed = await app.inject({ url: "/sessions", headers: { cookie: cookieHeader(jar) } });
    t.equal(listed.statusCode, 200, "the access cookie authenticates a safe request");

    // Refresh: the refresh cookie plus the CSRF header.
    const refreshJar = { sa_refresh: set.sa_refresh!.value, sa_csrf: csrf };
    const noCsrf = await app.inject({ method: "POST", url: "/refresh", headers: { cookie: cookieHeader(refreshJar) } });
    t.equal(noCsrf.statusCode, 403, "a refresh without the CSRF header is refused");
    const badCsrf = await app.inject({
      method: "POST",
      url: "/refresh",
      headers: { cookie: cookieHeader(refreshJar), "x-csrf-token": "forged" },
    });
    t.equal(badCsrf.statusCode, 403, "a mismatched CSRF header is refused");
    const refreshed = await app.inject({
      method: "POST",
      url: "/refresh",
      headers: { cookie: cookieHeader(refreshJar), "x-csrf-token": csrf },
    });
    t.equal(refreshed.statusCode, 200);
    const next = cookiesOf(refreshed);
    t.not(next.sa_refresh!.value, set.sa_refresh!.value, "the refresh cookie rotates");
    t.ok(next.sa_access!.value, "a new access cookie");
    t.equal(refreshed.json().csrf_token, next.sa_csrf!.value, "the refresh answer carries the new CSRF value");

    // Transport binding: the cookie session's tokens in a header or body are refused.
    const asHeader = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${next.sa_access!.value}` } });
    t.equal(asHeader.statusCode, 401);
    t.equal(asHeader.json().error, "transport_mismatch", "cookie session token in the Authorization header");
    const asBody = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: next.sa_refresh!.value } });
    t.equal(asBody.statusCode, 401);
    t.equal(asBody.json().error, "transport_mismatch", "cookie session refresh token in a bearer body");

    // Logout by cookie needs the CSRF header too, and clears the cookies.
    const jar2 = { sa_access: next.sa_access!.value, sa_csrf: next.sa_csrf!.value };
    const logoutNoCsrf = await app.inject({ method: "POST", url: "/logout", headers: { cookie: cookieHeader(jar2) } });
    t.equal(logoutNoCsrf.statusCode, 403);
    const logout = await app.inject({
      method: "POST",
      url: "/logout",
      headers: { cookie: cookieHeader(jar2), "x-csrf-token": next.sa_csrf!.value },
    });
    t.equal(logout.statusCode, 204);
    const cleared = cookiesOf(logout);
    t.equal(cleared.sa_access?.value, "", "logout clears the access cookie");
    const after = await app.inject({ url: "/sessions", headers: { cookie: cookieHeader(jar2) } });
    t.equal(after.statusCode, 401);
  });

  t.test(`${mode}: a bearer session's tokens sent as cookies are a transport mismatch`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const bearer = (await login(user.username, user.password)).json();
    const viaCookie = await app.inject({ url: "/sessions", headers: { cookie: `sa_access=${bearer.access_token}` } });
    t.equal(viaCookie.statusCode, 401);
    t.equal(viaCookie.json().error, "transport_mismatch");
    const refreshViaCookie = await app.inject({
      method: "POST",
      url: "/refresh",
      headers: { cookie: `sa_refresh=${bearer.refresh_token}; sa_csrf=x`, "x-csrf-token": "x" },
    });
    t.equal(refreshViaCookie.statusCode, 401);
    t.equal(refreshViaCookie.json().error, "transport_mismatch");
    t.equal(cookiesOf(refreshViaCookie).sa_refresh?.value, "", "a failed cookie refresh clears the cookies (no refresh loop)");
    const stillGood = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: bearer.refresh_token } });
    t.equal(stillGood.statusCode, 200, "a mismatch burns nothing");
  });

  t.test(`${mode}: secure cookies carry __Host-/__Secure- prefixes and the Secure flag`, async (t) => {
    const { createUser, login } = await testApp(t, mode, { env: { COOKIE_SECURE: "true" } });
    const user = await createUser();
    const set = cookiesOf(await login(user.username, user.password, { transport: "cookie" }));
    t.match(set["__Host-sa_access"], { secure: true, path: "/" });
    t.match(set["__Secure-sa_refresh"], { secure: true, path: "/refresh" });
    t.match(set["__Host-sa_csrf"], { secure: true, path: "/" });
  });
}
