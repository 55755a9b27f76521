import t from "tap";
import { cacheVerifiedClaims } from "../../src/keys/verified-claims-cache.js";
import { KeyManager } from "../../src/keys/key-manager.js";
import { createAccessTokenSigner, createAccessTokenVerifier } from "../../src/keys/access-tokens.js";
import { deriveKey } from "../../src/crypto/seal.js";
import { FakeClock, MINUTE } from "../fixtures/clock.js";
import { MemoryKeyStore } from "../fixtures/memory-key-store.js";

const settings = { issuer: "https://sa.test", audience: ["https://sa.test"], maxLifetimeSec: 600 };

async function setup() {
  const clock = new FakeClock();
  const keys = new KeyManager(
    new MemoryKeyStore(),
    deriveKey("k".repeat(40), "signing-keys"),
    { algorithm: "ES256", rotationIntervalMs: 30 * 24 * 60 * MINUTE, prepublishMs: 60 * MINUTE, accessTokenTtlMs: 10 * MINUTE },
    clock,
  );
  await keys.ensure();
  let calls = 0;
  const inner = createAccessTokenVerifier(keys, settings, clock);
  const counting = { verify: (tok: string) => (calls++, inner.verify(tok)) };
  const verifier = cacheVerifiedClaims(counting, keys, clock, 2);
  const signer = createAccessTokenSigner(keys, settings);
  const now = Math.floor(clock.now().getTime() / 1000);
  const sign = (sid: string) => signer.sign({ sub: "u", sid, trn: "bearer", client_id: "default", iat: now, exp: now + 600 });
  return { clock, verifier, sign, calls: () => calls };
}

t.test("a repeated token skips the signature check but not the expiry check", async (t) => {
  const { clock, verifier, sign, calls } = await setup();
  const token = await sign("s1");
  const first = await verifier.verify(token);
  const again = await verifier.verify(token);
  t.same(again, first);
  t.equal(calls(), 1, "verified once");
  clock.advance(11 * MINUTE);
  await t.rejects(verifier.verify(token), { code: "invalid_token" }, "an expired cached token is refused");
});

t.test("a tampered token is a different key and is verified (and refused)", async (t) => {
  const { verifier, sign } = await setup();
  const token = await sign("s1");
  await verifier.verify(token);
  const [h, p, s] = token.split(".");
  const tampered = `${h}.${p}.${s!.slice(0, -2)}AA`;
  await t.rejects(verifier.verify(tampered), { code: "invalid_token" });
});

t.test("the cache is bounded", async (t) => {
  const { verifier, sign, calls } = await setup();
  const a = await sign("a");
  const b = await sign("b");
  const c = await sign("c");
  for (const tok of [a, b, c]) await verifier.verify(tok);
  await verifier.verify(a);
  t.equal(calls(), 4, "the oldest entry was dropped once the bound was reached");
});

t.test("a token that ends like a cached one but differs is verified (and refused), never served from the cache", async (t) => {
  const { verifier, sign, calls } = await setup();
  const token = await sign("s1");
  const claims = await verifier.verify(token);
  const [h, , s] = token.split(".");
  // The same signature over another payload: the cache's index (the token's last characters) matches.
  const forged = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: "someone-else" })).toString("base64url")}.${s}`;
  t.equal(forged.slice(-32), token.slice(-32));
  await t.rejects(verifier.verify(forged), { code: "invalid_token" });
  t.equal(calls(), 2, "the forged token went to the signature check");
  t.same(await verifier.verify(token), claims, "the genuine token is still served");
});
