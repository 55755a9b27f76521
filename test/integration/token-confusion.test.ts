import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";

for (const mode of MODES) {
  t.test(`${mode}: a refresh token is no access token, and an access token is no refresh token`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const tokens = (await login(user.username, user.password)).json();

    const asAccess = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${tokens.refresh_token}` } });
    t.equal(asAccess.statusCode, 401);
    t.equal(asAccess.json().error, "invalid_token", "a refresh token used as an access token");
    const asRefresh = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: tokens.access_token.slice(0, 512) } });
    t.equal(asRefresh.statusCode, 401);
    t.equal(asRefresh.json().error, "invalid_grant", "an access token used as a refresh token");
    const stillGood = await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: tokens.refresh_token } });
    t.equal(stillGood.statusCode, 200, "the failed confusions burnt nothing");
  });
}

t.test("metrics count logins, refreshes, reuse and revocations by reason", async (t) => {
  const { app, clock, createUser, login } = await testApp(t, "embedded");
  const user = await createUser();
  const first = (await login(user.username, user.password)).json();
  await login(user.username, "wrong password");
  await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: first.refresh_token } });
  clock.advance(60_000);
  await app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: first.refresh_token } });
  const res = await app.inject({ url: "/metrics" });
  t.equal(res.statusCode, 200);
  t.match(res.headers["content-type"], /text\/plain/);
  const body = res.body;
  t.match(body, /session_authority_logins_total\{result="success"\} 1/);
  t.match(body, /session_authority_logins_total\{result="failure"\} 1/);
  t.match(body, /session_authority_refreshes_total 1/);
  t.match(body, /session_authority_refresh_reuse_detected_total 1/);
  t.match(body, /session_authority_revocations_total\{reason="refresh_reuse"\} 1/);
  t.match(body, /session_authority_http_request_duration_seconds_bucket\{.*route="\/login"/);
  t.match(body, /session_authority_revocation_outbox_depth 0/);
  t.notMatch(body, new RegExp(first.refresh_token), "no token in the metrics");
});
