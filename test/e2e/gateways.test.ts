// SPEC §12 behind real gateways: Debian's nginx (auth_request) and caddy
// (forward_auth), each run with the README's configuration block on loopback
// in front of an upstream that records what it received.
import t from "tap";
import { existsSync } from "node:fs";
import { randomUUID } from "node:crypto";
import { signCompactJws } from "../../src/keys/compact-jws.js";
import { cookiesOf, testApp, type TestApp } from "../fixtures/app.js";
import { MINUTE, SECOND } from "../fixtures/clock.js";
import { freePort } from "../fixtures/free-port.js";
import { recordingUpstream, startCaddy, startNginx, type Addresses } from "../fixtures/gateways.js";

const GATEWAYS = [
  { name: "nginx", bin: "/usr/sbin/nginx", start: startNginx },
  { name: "caddy", bin: "/usr/bin/caddy", start: startCaddy },
] as const;

/** A token as the service signs them, carrying custom claims (SPEC §11) the way issued tokens will. */
function tokenWithClaims(ctx: TestApp, base: { sub: string; sid: string }, custom: Record<string, unknown>): string {
  const key = ctx.services.keys.signingKey();
  const now = Math.floor(ctx.clock.now().getTime() / 1000);
  const { issuer, audience } = ctx.services.config.tokens;
  const payload = {
    ...custom,
    ...base,
    trn: "bearer",
    iss: issuer,
    aud: audience.length === 1 ? audience[0] : audience,
    iat: now,
    exp: now + 600,
    jti: randomUUID(),
  };
  return signCompactJws(key.alg, key.kid, key.privateKey, "at+jwt", payload);
}

for (const gw of GATEWAYS) {
  t.test(
    `${gw.name}: the gateway passes live sessions with the service's identity headers and refuses the rest`,
    { skip: !existsSync(gw.bin) && `no ${gw.bin} (apt-get install ${gw.name})`, timeout: 120_000 },
    async (t) => {
      const ctx = await testApp(t, "postgres");
      const serviceUrl = new URL(await ctx.app.listen({ host: "127.0.0.1", port: 0 }));
      const upstream = await recordingUpstream(t);
      const addresses: Addresses = { listen: await freePort(), service: Number(serviceUrl.port), upstream: upstream.port };
      await gw.start(t, addresses);
      const base = `http://127.0.0.1:${addresses.listen}`;
      const call = (path: string, init: RequestInit = {}) => fetch(`${base}${path}`, { redirect: "manual", ...init });

      const user = await ctx.createUser();
      const bearer = (await ctx.login(user.username, user.password)).json();
      const exp = JSON.parse(Buffer.from(bearer.access_token.split(".")[1], "base64url").toString()).exp;

      // Live bearer token; the client's own X-Auth-* headers never reach the upstream.
      upstream.seen.length = 0;
      const ok = await call("/orders/7?x=1", {
        headers: {
          authorization: `Bearer ${bearer.access_token}`,
          "x-auth-subject": "someone-else",
          "x-auth-session": "forged",
          "x-auth-client": "forged",
          "x-auth-expires": "9999999999",
          "x-auth-claims": "eyJhZG1pbiI6dHJ1ZX0",
        },
      });
      t.equal(ok.status, 200, "a live bearer token passes");
      t.equal(await ok.text(), "upstream");
      t.equal(upstream.seen.length, 1);
      const seen = upstream.seen[0]!;
      t.equal(seen.url, "/orders/7?x=1", "the upstream gets the original path");
      t.equal(seen.headers["x-auth-subject"], user.id, "the subject is the service's, not the client's");
      t.equal(seen.headers["x-auth-session"], bearer.session_id);
      t.equal(seen.headers["x-auth-client"], "default");
      t.equal(seen.headers["x-auth-expires"], String(exp));
      t.equal(seen.headers["x-auth-claims"], undefined, "no custom claims: the client's X-Auth-Claims is dropped, not passed");

      // Custom claims reach the upstream as base64url JSON.
      upstream.seen.length = 0;
      const claimed = tokenWithClaims(ctx, { sub: user.id, sid: bearer.session_id }, { roles: ["support"], tenant: "t-1" });
      t.equal((await call("/claims", { headers: { authorization: `Bearer ${claimed}` } })).status, 200);
      const claims = upstream.seen[0]?.headers["x-auth-claims"];
      t.same(
        JSON.parse(Buffer.from(String(claims), "base64url").toString()),
        { roles: ["support"], tenant: "t-1" },
        "the upstream sees the claims",
      );

      // Refused at the gateway: the upstream never sees these.
      upstream.seen.length = 0;
      const cookieRes = await ctx.login(user.username, user.password, { transport: "cookie" });
      const cookie = cookiesOf(cookieRes);
      const jar = `sa_access=${cookie.sa_access!.value}; sa_csrf=${cookie.sa_csrf!.value}`;
      const refused = async (init: RequestInit, challenge: string, why: string, path = "/orders") => {
        const res = await call(path, init);
        t.equal(res.status, 401, why);
        t.equal(res.headers.get("www-authenticate"), challenge, `${why}: the challenge`);
      };
      const invalid = 'Bearer error="invalid_token"';
      await refused({}, "Bearer", "no token");
      await refused({ headers: { authorization: `Bearer ${bearer.access_token.slice(0, -4)}AAAA` } }, invalid, "a tampered token");
      await refused(
        { headers: { authorization: `Bearer ${cookie.sa_access!.value}` } },
        invalid,
        "a cookie session's token as a bearer token",
      );
      await refused({ headers: { cookie: `sa_access=${bearer.access_token}` } }, invalid, "a bearer session's token in the cookie");
      await refused(
        { method: "POST", headers: { authorization: `Bearer ${bearer.access_token.slice(0, -4)}AAAA` }, body: "x" },
        invalid,
        "a tampered token on a POST",
      );
      t.equal(upstream.seen.length, 0, "the upstream saw none of them");

      // Cookie sessions: safe requests pass; unsafe ones need the CSRF header and the page's Origin.
      t.equal((await call("/page", { headers: { cookie: jar } })).status, 200, "a cookie session's GET passes");
      upstream.seen.length = 0;
      const post = (headers: Record<string, string>) =>
        call("/orders", { method: "POST", headers: { cookie: jar, "content-type": "application/json", ...headers }, body: '{"item":1}' });
      t.equal((await post({})).status, 403, "an unsafe request without the CSRF header is refused");
      t.equal((await post({ "x-csrf-token": "forged" })).status, 403, "a mismatched CSRF header is refused");
      t.equal(
        (await post({ "x-csrf-token": cookie.sa_csrf!.value, origin: "https://evil.example" })).status,
        403,
        "another site's Origin is refused",
      );
      t.equal(upstream.seen.length, 0, "the refused writes never reached the upstream");
      const written = await post({ "x-csrf-token": cookie.sa_csrf!.value, origin: base });
      t.equal(written.status, 200, "the CSRF header and the page's own Origin pass");
      t.equal(upstream.seen[0]?.method, "POST");
      t.equal(upstream.seen[0]?.body, '{"item":1}', "the upstream gets the body the service never saw");
      t.equal(upstream.seen[0]?.headers["x-auth-session"], cookieRes.json().session_id);

      // Logged out, then expired.
      const logout = await ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${bearer.access_token}` } });
      t.equal(logout.statusCode, 204);
      await refused({ headers: { authorization: `Bearer ${bearer.access_token}` } }, invalid, "a logged-out session's token, at once");
      ctx.clock.advance(10 * MINUTE + SECOND);
      await refused({ headers: { cookie: jar } }, invalid, "an expired token");
    },
  );
}
