// SPEC §2 and §5: an access token signed with the service's own key is still
// refused when it cannot have come from the service: an `iat` in the future
// beyond a small skew, a lifetime past ACCESS_TOKEN_TTL, or a `sub` that is
// not its session's owner, on introspection's fast path (mirror, Redis) as
// on the Postgres path, and on the service's own endpoints.
import t from "tap";
import { createAccessTokenSigner } from "../../src/keys/access-tokens.js";
import { testApp, type TestApp } from "../fixtures/app.js";
import { freshRedisPrefix, redisTestUrl } from "../fixtures/redis.js";
import { createClient } from "../fixtures/service-client.js";

const setups: Array<{ name: string; mode: "postgres" | "embedded"; redis: boolean }> = [
  { name: "embedded (the mirror is the whole list)", mode: "embedded", redis: false },
  { name: "postgres with Redis (mirror lease, then Redis)", mode: "postgres", redis: true },
  { name: "postgres alone", mode: "postgres", redis: false },
];

for (const setup of setups) {
  t.test(`${setup.name}: implausible tokens signed with the service's key are inactive and refused`, async (t) => {
    const prefix = setup.redis ? freshRedisPrefix(t) : undefined;
    const app: TestApp = await testApp(
      t,
      setup.mode,
      prefix ? { env: { REDIS_URL: redisTestUrl(), REDIS_KEY_PREFIX: prefix }, serviceOptions: { redisKeyPrefix: prefix } } : {},
    );
    const { services } = app;
    const client = await createClient(services, ["introspect"]);
    const owner = await app.createUser();
    const other = await app.createUser();
    const login = (await app.login(owner.username, owner.password)).json();
    const signer = createAccessTokenSigner(services.keys, {
      issuer: services.config.tokens.issuer,
      audience: services.config.tokens.audience,
      maxLifetimeSec: 600,
    });
    const now = Math.floor(services.clock.now().getTime() / 1000);
    const sign = (claims: { sub?: string; iat: number; exp: number }) =>
      signer.sign({
        sub: claims.sub ?? owner.id,
        sid: login.session_id,
        trn: "bearer",
        client_id: "default",
        iat: claims.iat,
        exp: claims.exp,
      });
    const introspect = async (token: string) =>
      (await app.app.inject({ method: "POST", url: "/introspect", headers: { authorization: client.basic }, payload: { token } })).json()
        .active;
    const sessions = async (token: string) =>
      (await app.app.inject({ method: "GET", url: "/sessions", headers: { authorization: `Bearer ${token}` } })).statusCode;

    t.equal(await introspect(login.access_token), true, "the real token is active (and its session's owner is now known)");
    const cases = {
      "an iat an hour in the future": await sign({ iat: now + 3600, exp: now + 3900 }),
      "a lifetime of ten years": await sign({ iat: now, exp: now + 10 * 365 * 86400 }),
      "a sub that is not the session's owner": await sign({ sub: other.id, iat: now, exp: now + 300 }),
    };
    for (const [what, token] of Object.entries(cases)) {
      t.equal(await introspect(token), false, `introspection: ${what} is inactive`);
      t.equal(await sessions(token), 401, `the service's own endpoints: ${what} is 401`);
    }
    t.equal(
      await introspect(await sign({ iat: now + 1, exp: now + 300 })),
      true,
      "an iat one second ahead (the issuer's rounding) is still active",
    );
  });
}
