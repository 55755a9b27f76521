// SPEC §4 and §7 made true: the service tells verifiers the bounds it
// requires (MAX_REVOCATION_STALENESS, the longest access-token lifetime)
// and the verifier takes them as its defaults: it fails closed after the
// service's staleness bound, and refuses tokens the service cannot have
// issued (iat in the future, a lifetime past ACCESS_TOKEN_TTL).
import t from "tap";
import { createAccessTokenSigner } from "../../src/keys/access-tokens.js";
import { RevocationListStaleError, TokenInvalidError } from "../../src/verifier/index.js";
import { verifierFor } from "../fixtures/verifier.js";
import { testApp } from "../fixtures/app.js";
import { eventually } from "../fixtures/eventually.js";
import { WallClock } from "../fixtures/fault-support.js";

t.test(
  "a verifier with no maxStalenessMs fails closed after the service's MAX_REVOCATION_STALENESS, and refuses implausible tokens",
  { timeout: 60_000 },
  async (t) => {
    const app = await testApp(t, "embedded", { clock: new WallClock(), env: { MAX_REVOCATION_STALENESS: "3s", ACCESS_TOKEN_TTL: "5m" } });
    const user = await app.createUser();
    const address = await app.app.listen({ host: "127.0.0.1", port: 0 });
    let cut = false;
    const { verifier } = await verifierFor(t, app, address, {
      // The network to the service, which the test can cut.
      fetch: (input, init) => (cut ? Promise.reject(new Error("network cut by the test")) : fetch(input, init)),
    });
    await verifier.ready();

    const login = (await app.login(user.username, user.password)).json();
    t.match(await verifier.verify(login.access_token, { transport: "header" }), { sub: user.id }, "a real token verifies");

    const signer = createAccessTokenSigner(app.services.keys, {
      issuer: app.services.config.tokens.issuer,
      audience: app.services.config.tokens.audience,
      maxLifetimeSec: 300,
    });
    const now = Math.floor(Date.now() / 1000);
    const sign = (iat: number, exp: number) =>
      signer.sign({ sub: user.id, sid: login.session_id, trn: "bearer", client_id: "default", iat, exp });
    const reason = (p: Promise<unknown>) =>
      p.then(
        () => "accepted",
        (err) => (err instanceof TokenInvalidError ? err.reason : String(err)),
      );
    t.equal(
      await reason(verifier.verify(await sign(now + 3600, now + 3700), { transport: "header" })),
      "iat_in_future",
      "an iat an hour ahead is refused",
    );
    t.equal(
      await reason(verifier.verify(await sign(now, now + 301), { transport: "header" })),
      "lifetime_too_long",
      "a lifetime past the service's ACCESS_TOKEN_TTL (5 m) is refused",
    );
    t.equal(
      await reason(verifier.verify(await sign(now, now + 300), { transport: "header" })),
      "accepted",
      "exactly ACCESS_TOKEN_TTL is accepted",
    );

    cut = true;
    const cutAt = Date.now();
    // The stream already open keeps delivering heartbeats; drop it by closing the service's listener's streams.
    await app.app.server.closeAllConnections?.();
    await eventually(
      () =>
        verifier.verify(login.access_token, { transport: "header" }).then(
          () => false,
          (err) => err instanceof RevocationListStaleError,
        ),
      15_000,
      100,
    );
    const after = Date.now() - cutAt;
    t.ok(after < 10_000, `fails closed ${after} ms after the network was cut: the service's 3 s bound, not the 30 s default`);
  },
);
