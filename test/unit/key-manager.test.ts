import { randomBytes } from "node:crypto";
import t from "tap";
import { decodeProtectedHeader } from "jose";
import type { Algorithm } from "../../src/config.js";
import { createAccessTokenSigner, createAccessTokenVerifier } from "../../src/keys/access-tokens.js";
import { KeyManager, type KeyPolicy } from "../../src/keys/key-manager.js";
import { FakeClock, DAY, HOUR, MINUTE, SECOND } from "../fixtures/clock.js";
import { MemoryKeyStore } from "../fixtures/memory-key-store.js";

const POLICY: KeyPolicy = {
  algorithm: "ES256",
  rotationIntervalMs: DAY,
  prepublishMs: HOUR,
  accessTokenTtlMs: 10 * MINUTE,
};
/** key-manager.ts keeps retired keys this much longer, for clock skew between instances. */
const SKEW = MINUTE;
const SETTINGS = { issuer: "https://auth.example", audience: ["api"], maxLifetimeSec: 600 };

function instance(store: MemoryKeyStore, clock: FakeClock, opts: { policy?: Partial<KeyPolicy>; sealingKey?: Uint8Array } = {}) {
  const keys = new KeyManager(store, opts.sealingKey ?? SEALING_KEY, { ...POLICY, ...opts.policy }, clock);
  const signer = createAccessTokenSigner(keys, SETTINGS);
  const verifier = createAccessTokenVerifier(keys, SETTINGS, clock);
  const sign = (sid = "s") => {
    const iat = Math.floor(clock.now().getTime() / 1000);
    return signer.sign({ sub: "u", sid, trn: "bearer", client_id: "default", iat, exp: iat + POLICY.accessTokenTtlMs / 1000 });
  };
  return { keys, sign, verifier };
}

const SEALING_KEY = randomBytes(32);
const kidOf = (token: string) => decodeProtectedHeader(token).kid;
const publishedKids = (keys: KeyManager) => keys.jwks().keys.map((k) => k.kid);

t.test("the first start creates exactly one key, which signs at once", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const { keys, sign, verifier } = instance(store, clock);
  await keys.ensure();
  await keys.ensure();
  t.equal(store.snapshot().length, 1, "one key, however often ensure() runs");
  t.match(keys.list(), [{ state: "active", alg: "ES256" }]);
  const token = await sign();
  t.equal(kidOf(token), store.snapshot()[0]!.kid);
  t.equal((await verifier.verify(token)).sub, "u");
});

t.test("a scheduled rotation publishes the next key KEY_PREPUBLISH before it signs", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const { keys, sign } = instance(store, clock);
  await keys.ensure();
  const first = store.snapshot()[0]!;

  clock.advance(POLICY.rotationIntervalMs - POLICY.prepublishMs - 1);
  await keys.ensure();
  t.equal(store.snapshot().length, 1, "not due a millisecond early");

  clock.advance(1);
  await keys.ensure();
  const [, next] = store.snapshot();
  t.ok(next, "a successor exists once due");
  t.equal(next!.activatesAt.getTime() - clock.now().getTime(), POLICY.prepublishMs, "it activates KEY_PREPUBLISH from now");
  t.same(publishedKids(keys).sort(), [first.kid, next!.kid].sort(), "the JWKS carries both during the window");
  t.match(keys.list(), [
    { kid: first.kid, state: "active" },
    { kid: next!.kid, state: "next" },
  ]);
  t.equal(kidOf(await sign()), first.kid, "the old key still signs at the start of the window");

  clock.advance(POLICY.prepublishMs - 1);
  await keys.ensure();
  t.equal(kidOf(await sign()), first.kid, "and at its last millisecond");
  t.equal(store.snapshot().length, 2, "no further key during the window");

  clock.advance(1);
  t.equal(kidOf(await sign()), next!.kid, "the new key signs from its activation, without a reload");
  t.match(keys.list(), [
    { kid: first.kid, state: "retired" },
    { kid: next!.kid, state: "active" },
  ]);
});

t.test("after activation old tokens verify until they expire; then the old key leaves the JWKS", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const { keys, sign, verifier } = instance(store, clock);
  await keys.ensure();
  const old = await keys.rotate();
  t.equal(old.kid, store.snapshot()[1]!.kid, "rotate() returns the successor");
  const oldKid = store.snapshot()[0]!.kid;

  clock.advance(POLICY.prepublishMs - SECOND);
  const lastOldToken = await sign();
  t.equal(kidOf(lastOldToken), oldKid, "signed by the old key a second before it retires");
  clock.advance(SECOND);
  t.equal(kidOf(await sign()), old.kid, "new tokens carry the new kid");

  clock.advance(POLICY.accessTokenTtlMs - 2 * SECOND);
  t.equal((await verifier.verify(lastOldToken)).sub, "u", "the old key's last token verifies until its exp");
  t.ok(publishedKids(keys).includes(oldKid), "its key is still published");

  clock.advance(2 * SECOND);
  await t.rejects(verifier.verify(lastOldToken), { code: "invalid_token", detail: "ERR_JWT_EXPIRED" });
  t.ok(publishedKids(keys).includes(oldKid), "kept a while longer for clock skew between instances");

  clock.advance(SKEW);
  t.notOk(publishedKids(keys).includes(oldKid), "gone once retired + access TTL + skew has passed");
  await keys.reload();
  t.same(publishedKids(keys), [old.kid], "and after a reload only the active key is left");
  t.match(keys.list(), [{ kid: old.kid, state: "active" }]);
});

t.test("gateways caching the JWKS for KEY_PREPUBLISH/2 never meet an unknown kid", async (t) => {
  // Two instances share the store and check keys every KEY_PREPUBLISH/4 (as
  // services.ts does), out of phase. Gateways fetch from either instance at
  // any phase and keep the copy for half the pre-publication window (the
  // max-age the JWKS route sends).
  const store = new MemoryKeyStore();
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const a = instance(store, clock);
  const b = instance(store, clock);
  await a.keys.ensure();
  await b.keys.ensure();
  const P = POLICY.prepublishMs;
  const step = P / 16;
  const tick = P / 4;
  const cachePeriod = P / 2;
  const gateways = Array.from({ length: 8 }, (_, i) => ({
    from: i % 2 === 0 ? a.keys : b.keys,
    phase: (i * cachePeriod) / 8,
    fetchedAt: Number.NEGATIVE_INFINITY,
    kids: new Set<string>(),
  }));
  const live: Array<{ kid: string; exp: number }> = [];
  const start = clock.now().getTime();
  let misses = 0;
  let checks = 0;
  for (let now = start; now < start + 3.5 * POLICY.rotationIntervalMs; now += step) {
    clock.set(now);
    const elapsed = now - start;
    if (elapsed % tick === 0) await a.keys.ensure();
    if ((elapsed + tick / 2) % tick === 0) await b.keys.ensure();
    for (const g of gateways) {
      if (elapsed >= g.phase && now - g.fetchedAt >= cachePeriod) {
        g.kids = new Set(g.from.jwks().keys.map((k) => k.kid));
        g.fetchedAt = now;
      }
    }
    for (const signer of [a, b]) {
      const kid = kidOf(await signer.sign())!;
      live.push({ kid, exp: now + POLICY.accessTokenTtlMs });
    }
    while (live.length > 0 && live[0]!.exp <= now) live.shift();
    for (const g of gateways) {
      if (g.fetchedAt === Number.NEGATIVE_INFINITY) continue;
      for (const { kid } of live) {
        checks++;
        if (!g.kids.has(kid)) misses++;
      }
    }
  }
  const rotations = store.snapshot().length - 1;
  t.equal(rotations, 3, "three scheduled rotations in three and a half intervals, once each");
  t.ok(checks > 10_000, `${checks} (gateway, live token) checks`);
  t.equal(misses, 0, "every live token's kid was in every gateway's cached JWKS");
});

t.test("rotate() on demand is idempotent while a successor is pending", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const { keys } = instance(store, clock);
  await keys.ensure();
  const first = await keys.rotate();
  clock.advance(MINUTE);
  const second = await keys.rotate();
  t.equal(second.kid, first.kid, "the same pending key, not a new one per call (better-auth#6215)");
  t.equal(second.activatesAt.getTime(), first.activatesAt.getTime(), "and its activation does not move");
  await keys.ensure();
  t.equal(store.snapshot().length, 2, "ensure() adds nothing while one is pending");

  clock.advance(POLICY.prepublishMs);
  const third = await keys.rotate();
  t.not(third.kid, first.kid, "once it signs, a new rotation pre-publishes a new successor");
  t.equal(store.snapshot().length, 3);
});

for (const alg of ["ES256", "RS256", "EdDSA"] as Algorithm[]) {
  t.test(`${alg} keys sign tokens that verify, and the JWKS holds only public parts`, async (t) => {
    const store = new MemoryKeyStore();
    const clock = new FakeClock();
    const { keys, sign, verifier } = instance(store, clock, { policy: { algorithm: alg } });
    await keys.ensure();
    const token = await sign();
    t.match(decodeProtectedHeader(token), { alg, typ: "at+jwt", kid: String });
    t.equal((await verifier.verify(token)).sid, "s");
    const [jwk] = keys.jwks().keys;
    t.match(jwk, { alg, use: "sig", kid: String, kty: alg === "ES256" ? "EC" : alg === "RS256" ? "RSA" : "OKP" });
    for (const secret of ["d", "p", "q", "dp", "dq", "qi", "k"]) t.notOk(secret in jwk!, `no "${secret}" in the JWKS`);
  });
}

t.test("a sealing key that does not match fails loudly and names the key", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const first = instance(store, clock);
  await first.keys.ensure();
  const kid = store.snapshot()[0]!.kid;
  const wrong = instance(store, clock, { sealingKey: randomBytes(32) });
  await t.rejects(wrong.keys.ensure(), { message: new RegExp(`${kid}.*KEY_ENCRYPTION_KEY`) }, "ensure() refuses to start");
  await t.rejects(wrong.keys.reload(), { message: /KEY_ENCRYPTION_KEY/ }, "so does reload()");
  t.throws(() => wrong.keys.signingKey(), { code: "unavailable" }, "and nothing signs with a key it could not open");
  t.equal(store.snapshot().length, 1, "no replacement key was minted to paper over it");
});

t.test("two instances sharing a store rotate exactly once", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const a = instance(store, clock);
  const b = instance(store, clock);
  await Promise.all([a.keys.ensure(), b.keys.ensure(), a.keys.ensure(), b.keys.ensure()]);
  t.equal(store.snapshot().length, 1, "concurrent first starts create one key");

  clock.advance(POLICY.rotationIntervalMs - POLICY.prepublishMs);
  const [, , ra, rb] = await Promise.all([a.keys.ensure(), b.keys.ensure(), a.keys.rotate(), b.keys.rotate()]);
  t.equal(store.snapshot().length, 2, "a scheduled and two on-demand rotations at once: one successor");
  t.equal(ra.kid, rb.kid, "both callers get the same successor");
  t.same(publishedKids(a.keys).sort(), publishedKids(b.keys).sort(), "both instances publish the same keys");

  clock.advance(POLICY.prepublishMs);
  t.equal(kidOf(await a.sign()), ra.kid);
  t.equal(kidOf(await b.sign()), ra.kid, "and both sign with it once it activates");
});

t.test("a reload that read the store before a rotation cannot hide the new key", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const { keys } = instance(store, clock);
  await keys.ensure();
  // Hold one reload's read back while rotate() creates a key and reloads.
  let releaseSlow!: () => void;
  store.beforeList = () => {
    store.beforeList = undefined;
    return new Promise<void>((r) => (releaseSlow = r));
  };
  const slow = keys.reload();
  await new Promise((r) => setImmediate(r));
  const next = await keys.rotate();
  releaseSlow();
  await slow;
  t.ok(publishedKids(keys).includes(next.kid), "the pending key is still published after the older reload finishes");
});

t.test("a successor inserted without its predecessor being retired is repaired", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  const { keys, sign } = instance(store, clock);
  await keys.ensure();
  store.failNextRetire = true;
  await t.rejects(keys.rotate(), /connection lost/, "the rotation fails half-way");
  const [old, next] = store.snapshot();
  t.equal(old!.retiredAt, null, "the old key was left unretired");
  await keys.ensure();
  const [repaired] = store.snapshot();
  t.equal(repaired!.retiredAt?.getTime(), next!.activatesAt.getTime(), "the next ensure() retires it when its successor activates");
  t.equal(repaired!.expiresAt?.getTime(), next!.activatesAt.getTime() + POLICY.accessTokenTtlMs + SKEW);
  clock.advance(POLICY.prepublishMs + POLICY.accessTokenTtlMs + SKEW);
  await keys.ensure();
  t.same(publishedKids(keys), [next!.kid], "so it leaves the JWKS in time instead of staying forever");
  t.equal(kidOf(await sign()), next!.kid);
});

t.test("a policy that cannot publish before signing is refused", async (t) => {
  const store = new MemoryKeyStore();
  const clock = new FakeClock();
  t.throws(() => instance(store, clock, { policy: { prepublishMs: DAY } }), /prepublish/i, "pre-publication as long as the interval");
  t.throws(() => instance(store, clock, { policy: { prepublishMs: 0 } }), /prepublish/i, "no pre-publication at all");
  t.throws(() => instance(store, clock, { policy: { accessTokenTtlMs: 0 } }), /access/i);
});
