import t from "tap";
import { testApp } from "../fixtures/app.js";
import { leakedSecrets } from "../fixtures/secret-watch.js";

t.test("the secret watch catches a leak (so its silence in every other test means something)", async (t) => {
  const { app, logs, createUser, login } = await testApp(t, "embedded");
  const user = await createUser();
  const { access_token } = (await login(user.username, user.password)).json();
  await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${access_token}` } });
  const joined = logs.join("");
  t.notOk(joined.includes(access_token), "the access token is not logged");
  t.notOk(joined.includes(user.password), "the password is not logged");
  t.match(joined, /"url":"\/sessions"/, "requests are logged");
  t.same(leakedSecrets(new Set([access_token]), [...logs, `{"msg":"oops ${access_token}"}`]), [access_token], "a leak would be detected");
});

t.test("redaction covers headers and token fields a handler might log by mistake", async (t) => {
  const { app, logs } = await testApp(t, "embedded");
  app.log.info(
    {
      req: { headers: { authorization: "Bearer leaked-secret-value-123", cookie: "sa_access=leaked-cookie-value-456" } },
      password: "leaked-password-789",
      refresh_token: "leaked-refresh-000",
    },
    "careless",
  );
  const joined = logs.join("");
  for (const secret of ["leaked-secret-value-123", "leaked-cookie-value-456", "leaked-password-789", "leaked-refresh-000"]) {
    t.notOk(joined.includes(secret), `${secret} is redacted`);
  }
  t.match(joined, /\[redacted\]/);
});
