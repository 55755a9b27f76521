import t from "tap";
import { createServer } from "node:net";
import * as client from "openid-client";
import { testApp } from "../fixtures/app.js";
import { createClient } from "../fixtures/service-client.js";

/** A free loopback port, so ISSUER can name the address the app will listen on. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

t.test("openid-client discovers the RFC 8414 metadata and introspects and revokes with it", async (t) => {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const { app, services, createUser, login } = await testApp(t, "postgres", { env: { ISSUER: issuer } });
  await app.listen({ host: "127.0.0.1", port });
  const sibling = await createClient(services, ["introspect", "revoke"]);

  const config = await client.discovery(new URL(issuer), sibling.id, sibling.secret, client.ClientSecretBasic(sibling.secret), {
    algorithm: "oauth2",
    execute: [client.allowInsecureRequests],
  });
  t.equal(config.serverMetadata().issuer, issuer);
  t.equal(config.serverMetadata().introspection_endpoint, `${issuer}/introspect`);

  const user = await createUser();
  const tokens = (await login(user.username, user.password)).json();
  const active = await client.tokenIntrospection(config, tokens.access_token);
  t.match(active, { active: true, sub: user.id, sid: tokens.session_id, token_type: "access_token" });
  const refresh = await client.tokenIntrospection(config, tokens.refresh_token, { token_type_hint: "refresh_token" });
  t.match(refresh, { active: true, token_type: "refresh_token" });

  await client.tokenRevocation(config, tokens.refresh_token, { token_type_hint: "refresh_token" });
  t.same(await client.tokenIntrospection(config, tokens.access_token), { active: false }, "revoking the refresh token ended the session");
});
