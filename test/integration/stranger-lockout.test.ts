// SPEC §6 backoff must slow down whoever fails, never the holder of the right
// secret. A client id is no secret and a username is public: strangers
// failing with either, from many addresses, must not make the right secret
// or password answer 429 from an address that has not failed, on any
// instance. Two instances share Redis, as in production.
import t from "tap";
import { testApp } from "../fixtures/app.js";
import type { Teardown } from "../fixtures/database.js";
import { FakeClock } from "../fixtures/clock.js";
import { freshRedisPrefix, redisTestUrl } from "../fixtures/redis.js";
import { basicAuth, createClient } from "../fixtures/service-client.js";

const STRANGERS = Array.from({ length: 8 }, (_, i) => `198.51.100.${i + 10}`);
const SIBLING = "10.0.0.5";
const OWNER = "192.0.2.44";

const shared = async (t: Teardown, env: Record<string, string> = {}) => {
  const clock = new FakeClock();
  const prefix = freshRedisPrefix(t);
  const opts = { clock, env: { REDIS_URL: redisTestUrl(), REDIS_KEY_PREFIX: prefix, ...env }, serviceOptions: { redisKeyPrefix: prefix } };
  const a = await testApp(t, "postgres", opts);
  const b = await testApp(t, "postgres", { ...opts, storage: { url: a.services.config.storage.databaseUrl! } });
  return { a, b, clock };
};

t.test(
  "wrong secrets for a sibling's client id from eight addresses do not stop the sibling's introspection on either instance",
  async (t) => {
    const { a, b } = await shared(t);
    const sibling = await createClient(a.services, ["introspect"]);
    const introspect = (app: typeof a, secret: string, ip: string) =>
      app.app.inject({
        method: "POST",
        url: "/introspect",
        remoteAddress: ip,
        headers: { authorization: basicAuth(sibling.id, secret) },
        payload: { token: "x" },
      });
    for (let round = 0; round < 3; round++) {
      for (const [i, ip] of STRANGERS.entries()) {
        const res = await introspect(i % 2 ? a : b, `wrong-${round}-${i}`, ip);
        t.ok([401, 429].includes(res.statusCode), `a stranger's wrong secret: ${res.statusCode}`);
      }
    }
    for (const app of [a, b]) {
      const res = await introspect(app, sibling.secret, SIBLING);
      t.equal(
        res.statusCode,
        200,
        `the sibling's right secret from its own address is answered (${res.statusCode} ${res.body.slice(0, 80)})`,
      );
    }

    // Whoever fails is slowed: one address failing on and on meets 429.
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await introspect(a, `again-${i}`, STRANGERS[0]!)).statusCode);
    t.ok(statuses.includes(429), `the failing address itself is backed off (${statuses.join(" ")})`);
  },
);

t.test("a success clears the client-and-address pair: a sibling's own earlier mistakes do not linger", async (t) => {
  const { a } = await shared(t, { RATE_LIMIT_CLIENT_AUTH: "3" });
  const sibling = await createClient(a.services, ["introspect"]);
  const introspect = (secret: string) =>
    a.app.inject({
      method: "POST",
      url: "/introspect",
      remoteAddress: SIBLING,
      headers: { authorization: basicAuth(sibling.id, secret) },
      payload: { token: "x" },
    });
  for (let i = 0; i < 3; i++) t.equal((await introspect(`stale-${i}`)).statusCode, 401, "a sibling's stale secret during a rotation");
  t.equal((await introspect(sibling.secret)).statusCode, 200, "the new secret works");
  for (let i = 0; i < 3; i++)
    t.equal((await introspect(`stale-again-${i}`)).statusCode, 401, "its failures start from zero again: three free");
});

t.test(
  "wrong passwords for a username from eight addresses do not refuse its owner's right password from an address that has not failed",
  async (t) => {
    const { a, b, clock } = await shared(t, { RATE_LIMIT_LOGIN_PER_USER: "3" });
    const user = await a.createUser();
    const login = (app: typeof a, password: string, ip: string) =>
      app.app.inject({ method: "POST", url: "/login", remoteAddress: ip, payload: { username: user.username, password } });
    for (const [i, ip] of STRANGERS.entries()) {
      const res = await login(i % 2 ? a : b, `guess-${i}`, ip);
      t.ok([401, 429].includes(res.statusCode), `a stranger's guess: ${res.statusCode}`);
    }
    // The distributed guesser is still slowed: an address that failed on this
    // username waits for the username's block, even with a fresh guess.
    const again = await login(a, "guess-again", STRANGERS[0]!);
    t.equal(again.statusCode, 429, "a stranger's address that failed on the username is held to the username's backoff");
    const rightThere = await login(b, user.password, STRANGERS[1]!);
    t.equal(rightThere.statusCode, 429, "even the right password waits there (no oracle for the guesser)");
    for (const app of [a, b]) {
      const res = await login(app, user.password, OWNER);
      t.equal(res.statusCode, 200, `the owner's right password from a clean address logs in (${res.statusCode})`);
    }
    clock.advance(1_000);
  },
);
