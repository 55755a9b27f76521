// The local verification library (src/verifier) against the real service:
// its JWKS, GET /revocations and the stream, across two instances on Redis.
import t from "tap";
import { TokenRevokedError } from "../../src/verifier/index.js";
import { verifierFor } from "../fixtures/verifier.js";
import { testApp } from "../fixtures/app.js";
import { FakeClock } from "../fixtures/clock.js";
import { eventually } from "../fixtures/eventually.js";
import { freshRedisPrefix, redisTestUrl } from "../fixtures/redis.js";

t.test("a sibling's local verifier rejects a token within a second of a logout on another instance", async (t) => {
  const clock = new FakeClock();
  const redis = { env: { REDIS_URL: redisTestUrl() }, serviceOptions: { redisKeyPrefix: freshRedisPrefix(t), background: true } };
  const a = await testApp(t, "postgres", { clock, ...redis, appOptions: { sseHeartbeatMs: 500 } });
  const b = await testApp(t, "postgres", { clock, ...redis, storage: { url: a.services.config.storage.databaseUrl! } });
  const user = await a.createUser();
  const address = await a.app.listen({ host: "127.0.0.1", port: 0 });

  const errors: unknown[] = [];
  const { verifier } = await verifierFor(t, a, address, { maxStalenessMs: 5_000, onError: (err) => errors.push(err) });
  await verifier.ready();

  const login = (await b.login(user.username, user.password)).json();
  t.match(await verifier.verify(login.access_token, { transport: "header" }), { sub: user.id, sid: login.session_id });

  const logout = await b.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${login.access_token}` } });
  t.equal(logout.statusCode, 204);
  await eventually(
    () =>
      verifier.verify(login.access_token, { transport: "header" }).then(
        () => false,
        (err) => err instanceof TokenRevokedError,
      ),
    1_000,
  );
  t.pass("revoked in the verifier within a second");
  t.equal(verifier.status().stream, "open", "synced by the stream");
  t.same(errors, [], "no sync errors");
  await verifier.close();
});
