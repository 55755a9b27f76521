import { spawn } from "node:child_process";
import { setTimeout as delay } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import t from "tap";
import { exportSPKI, importJWK, SignJWT, type CryptoKey } from "jose";
import {
  createVerifier,
  RevocationListStaleError,
  TokenInvalidError,
  TokenRevokedError,
  TransportMismatchError,
  VerifierError,
  type VerifierOptions,
} from "../../src/verifier/index.js";
import { FakeClock, MINUTE, SECOND } from "../fixtures/clock.js";
import { generatePeerKey, RevocationPeer, type RevocationPeerOptions } from "../fixtures/revocation-peer.js";

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** A peer and a verifier pointed at it, ready, both closed with the test. */
async function setup(t: Teardown, opts: { peer?: RevocationPeerOptions; verifier?: Partial<VerifierOptions> } = {}) {
  const peer = await RevocationPeer.start(opts.peer);
  const errors: unknown[] = [];
  const verifier = createVerifier({ ...peer.verifierOptions, onError: (e) => errors.push(e), ...opts.verifier });
  t.teardown(async () => {
    await verifier.close();
    await peer.close();
  });
  await bounded(verifier.ready(), 5000, "verifier ready");
  return { peer, verifier, errors };
}

async function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The VerifierError a promise rejects with (fails if it resolves or throws something else). */
async function rejection(p: Promise<unknown>): Promise<VerifierError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof VerifierError) return err;
    throw err;
  }
  throw new Error("expected verify() to reject");
}

/** Retries fn every 10 ms until it resolves, for at most timeoutMs. */
async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: err });
    }
    await delay(10);
  }
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

t.test("a valid token is accepted with its claims, over the transport it was issued for", async (t) => {
  const { peer, verifier } = await setup(t);
  const bearer = await peer.sign({ transport: "bearer", claims: { sub: "alice", sid: "s-1" } });
  const claims = await verifier.verify(bearer, { transport: "header" });
  t.match(claims, { iss: peer.issuer, aud: peer.audience, sub: "alice", sid: "s-1", trn: "bearer", jti: String, iat: Number, exp: Number });
  t.ok(Object.isFrozen(claims), "cached claims are shared, so they are frozen");
  const cookie = await peer.sign({ transport: "cookie" });
  t.equal((await verifier.verify(cookie, { transport: "cookie" })).trn, "cookie");
  t.match(verifier.status(), { keysLoaded: true, stale: false, stream: "open" });
});

t.test("the claims name the session's application; a token that names none is the default application's", async (t) => {
  const { peer, verifier } = await setup(t);
  const named = await peer.sign({ claims: { client_id: "ios-app" } });
  t.equal((await verifier.verify(named, { transport: "header" })).client_id, "ios-app");
  const legacy = await peer.sign();
  const claims = await verifier.verify(legacy, { transport: "header" });
  t.equal(claims.client_id, "default", "tokens minted before applications are the default application's");
  t.ok(Object.isFrozen(claims));
  const err = await rejection(verifier.verify(await peer.sign({ claims: { client_id: 7 } }), { transport: "header" }));
  t.equal(err.code, "invalid_token", "a client_id that is not a string is malformed");
});

t.test("each algorithm of SPEC §2 verifies: ES256, RS256, EdDSA", async (t) => {
  for (const alg of ["ES256", "RS256", "EdDSA"] as const) {
    const { peer, verifier } = await setup(t, { peer: { alg } });
    const claims = await verifier.verify(await peer.sign(), { transport: "header" });
    t.equal(claims.sub, "user-1", alg);
  }
});

t.test("forged and malformed tokens are rejected with invalid_token", async (t) => {
  const clock = new FakeClock();
  const { peer, verifier } = await setup(t, { peer: { clock }, verifier: { clock } });
  const now = peer.nowSec();
  const cases: Array<[string, () => Promise<string>, string]> = [
    ["wrong issuer", () => peer.sign({ claims: { iss: "https://evil.example" } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["wrong audience", () => peer.sign({ claims: { aud: "another-api" } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["expired", () => peer.sign({ claims: { iat: now - 700, exp: now - 100 } }), "ERR_JWT_EXPIRED"],
    ["expiring this very second", () => peer.sign({ claims: { exp: now } }), "ERR_JWT_EXPIRED"],
    ["not yet valid (nbf in the future)", () => peer.sign({ claims: { nbf: now + 60 } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["typ other than at+jwt", () => peer.sign({ header: { typ: "JWT" } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["no sid", () => peer.sign({ claims: { sid: undefined } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["no jti", () => peer.sign({ claims: { jti: undefined } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["no trn", () => peer.sign({ claims: { trn: undefined } }), "ERR_JWT_CLAIM_VALIDATION_FAILED"],
    ["a trn that is neither bearer nor cookie", () => peer.sign({ claims: { trn: "carrier-pigeon" } }), "bad_claims"],
    ["a non-string sid", () => peer.sign({ claims: { sid: 42 } }), "bad_claims"],
    ["no kid", () => peer.sign({ header: { kid: undefined } }), "missing_kid"],
    [
      "alg none",
      async () =>
        `${b64url({ alg: "none", typ: "at+jwt", kid: peer.signingKey.kid })}.${b64url({ iss: peer.issuer, aud: peer.audience, sub: "u", sid: "s", jti: "j", trn: "bearer", iat: now, exp: now + 600 })}.`,
      "ERR_JOSE_ALG_NOT_ALLOWED",
    ],
    [
      "HS256 keyed with the public key (algorithm confusion)",
      async () => {
        const publicKey = (await importJWK(peer.signingKey.publicJwk, "ES256")) as CryptoKey;
        const pem = new TextEncoder().encode(await exportSPKI(publicKey));
        return new SignJWT({ sub: "u", sid: "s", jti: "j", trn: "bearer" })
          .setProtectedHeader({ alg: "HS256", kid: peer.signingKey.kid, typ: "at+jwt" })
          .setIssuer(peer.issuer)
          .setAudience(peer.audience)
          .setIssuedAt(now)
          .setExpirationTime(now + 600)
          .sign(pem);
      },
      "ERR_JOSE_ALG_NOT_ALLOWED",
    ],
    ["RS256 claimed for the ES256 key's kid", () => rsaSignedWithKidOf(peer), "alg_mismatch"],
    [
      "tampered payload",
      async () => {
        const [h, , s] = (await peer.sign()).split(".");
        return `${h}.${b64url({ iss: peer.issuer, aud: peer.audience, sub: "admin", sid: "s", jti: "j", trn: "bearer", iat: now, exp: now + 600 })}.${s}`;
      },
      "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
    ],
    ["truncated", async () => (await peer.sign()).slice(0, -10), "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"],
    ["not a JWT", async () => "not-a-token", "ERR_JWS_INVALID"],
    ["a kid that is a path or an injection string", () => peer.sign({ header: { kid: "../../../../dev/null' OR '1'='1" } }), "unknown_kid"],
    ["oversized (> 4096 characters)", async () => `${await peer.sign()}${"A".repeat(4096)}`, "malformed"],
    ["empty", async () => "", "malformed"],
  ];
  for (const [name, make, reason] of cases) {
    const err = await rejection(verifier.verify(await make(), { transport: "header" }));
    t.type(err, TokenInvalidError, name);
    t.match(err, { code: "invalid_token", status: 401, reason }, name);
  }
  t.equal(verifier.status().cachedTokens, 0, "nothing that failed is cached");
});

/** An RS256 token whose header names the peer's (ES256) signing kid. */
async function rsaSignedWithKidOf(peer: RevocationPeer): Promise<string> {
  const rsa = await generatePeerKey("RS256");
  return peer.sign({ key: rsa, header: { kid: peer.signingKey.kid } });
}

t.test("the JWKS is fetched once and refetched on an unknown kid, at most once per cooldown", async (t) => {
  const clock = new FakeClock();
  const { peer, verifier } = await setup(t, {
    peer: { clock },
    verifier: { clock, jwksCooldownMs: 5 * SECOND, maxStalenessMs: 10 * MINUTE },
  });
  for (let i = 0; i < 20; i++) await verifier.verify(await peer.sign(), { transport: "header" });
  t.equal(peer.counts.jwks, 1, "twenty tokens, one JWKS fetch");

  await peer.rotateKey();
  const rotated = await peer.sign();
  const early = await rejection(verifier.verify(rotated, { transport: "header" }));
  t.match(early, { code: "invalid_token", reason: "unknown_kid" }, "within the cooldown of the last fetch, even a new key waits");
  t.equal(peer.counts.jwks, 1);

  clock.advance(5 * SECOND);
  t.equal(
    (await verifier.verify(rotated, { transport: "header" })).sub,
    "user-1",
    "after the cooldown the unknown kid triggers a refetch that finds it",
  );
  t.equal(peer.counts.jwks, 2);

  const rogue = await generatePeerKey();
  for (let i = 0; i < 50; i++) {
    const err = await rejection(verifier.verify(await peer.sign({ key: rogue }), { transport: "header" }));
    t.equal(err.code, "invalid_token");
  }
  t.equal(peer.counts.jwks, 2, "a flood of made-up kids within the cooldown fetches nothing");

  clock.advance(5 * SECOND);
  const rogueTokens = await Promise.all(Array.from({ length: 50 }, () => peer.sign({ key: rogue })));
  const errs = await Promise.all(rogueTokens.map((tok) => rejection(verifier.verify(tok, { transport: "header" }))));
  t.ok(
    errs.every((e) => e instanceof TokenInvalidError && e.reason === "unknown_kid"),
    "unknown kids still fail after the refetch",
  );
  t.equal(peer.counts.jwks, 3, "fifty concurrent unknown kids after the cooldown: one refetch");
});

t.test("a key withdrawn from the JWKS stops its cached tokens once the JWKS max-age has passed", async (t) => {
  const clock = new FakeClock();
  const { peer, verifier } = await setup(t, {
    peer: { clock, jwksMaxAgeSec: 60 },
    verifier: { clock, pollIntervalMs: 50, maxStalenessMs: 10 * MINUTE, jwksCooldownMs: SECOND },
  });
  const token = await peer.sign();
  await verifier.verify(token, { transport: "header" });
  await peer.rotateKey({ unpublishOld: true });
  clock.advance(61 * SECOND);
  const err = await eventually(() => rejection(verifier.verify(token, { transport: "header" })), "withdrawn key rejected");
  t.match(err, { code: "invalid_token", reason: "unknown_kid" });
  t.equal(peer.counts.jwks, 2, "one background refresh after max-age");
});

t.test("a token is accepted only over the transport its session was issued for", async (t) => {
  const { peer, verifier } = await setup(t);
  const bearer = await peer.sign({ transport: "bearer" });
  const cookie = await peer.sign({ transport: "cookie" });
  const a = await rejection(verifier.verify(bearer, { transport: "cookie" }));
  t.type(a, TransportMismatchError);
  t.match(a, { code: "transport_mismatch", status: 401 }, "a bearer token in a cookie");
  const b = await rejection(verifier.verify(cookie, { transport: "header" }));
  t.type(b, TransportMismatchError);
  t.match(b, { code: "transport_mismatch" }, "a cookie token in a header");
  // Same tokens again: now from the claims cache, with the same answer.
  t.equal((await rejection(verifier.verify(bearer, { transport: "cookie" }))).code, "transport_mismatch");
  t.equal((await rejection(verifier.verify(cookie, { transport: "header" }))).code, "transport_mismatch");
  await t.rejects(verifier.verify(bearer, { transport: "body" as never }), TypeError, "an unknown transport is a programming error");
});

t.test("a revoked session's token is rejected; other sessions are not", async (t) => {
  const { peer, verifier } = await setup(t);
  const revoked = await peer.sign({ claims: { sid: "sess-revoked" } });
  const other = await peer.sign({ claims: { sid: "sess-other" } });
  await verifier.verify(revoked, { transport: "header" });
  peer.revoke({ sid: "sess-revoked", exp: peer.nowSec() + 600 });
  const err = await eventually(() => rejection(verifier.verify(revoked, { transport: "header" })), "sid revocation");
  t.type(err, TokenRevokedError);
  t.match(err, { code: "token_revoked", status: 401, revokedBy: "sid" });
  t.equal((await verifier.verify(other, { transport: "header" })).sid, "sess-other");
});

t.test("a user-wide revocation stops tokens issued before not_before, not those issued at or after it", async (t) => {
  const clock = new FakeClock();
  const { peer, verifier } = await setup(t, { peer: { clock }, verifier: { clock } });
  const now = peer.nowSec();
  const before = await peer.sign({ claims: { sub: "bob", iat: now - 30 } });
  const atInstant = await peer.sign({ claims: { sub: "bob", iat: now } });
  const otherUser = await peer.sign({ claims: { sub: "carol", iat: now - 30 } });
  peer.revoke({ sub: "bob", not_before: now, exp: now + 600 });
  const err = await eventually(() => rejection(verifier.verify(before, { transport: "header" })), "sub revocation");
  t.match(err, { code: "token_revoked", revokedBy: "sub" });
  clock.advance(5 * SECOND);
  const after = await peer.sign({ claims: { sub: "bob" } });
  t.equal((await verifier.verify(atInstant, { transport: "header" })).sub, "bob", "iat == not_before is not before it");
  t.equal((await verifier.verify(after, { transport: "header" })).sub, "bob", "a token issued after the revocation passes");
  t.equal((await verifier.verify(otherUser, { transport: "header" })).sub, "carol", "other users are untouched");
  clock.advance(600 * SECOND);
  t.equal(
    (await rejection(verifier.verify(before, { transport: "header" }))).code,
    "invalid_token",
    "once the entry has expired so has every token it stopped",
  );
});

t.test("a revocation pushed on the stream is enforced within 1 s, without polling", async (t) => {
  const { peer, verifier } = await setup(t, { verifier: { pollIntervalMs: 60 * SECOND } });
  const token = await peer.sign({ claims: { sid: "pushed" } });
  await verifier.verify(token, { transport: "header" });
  const polls = peer.counts.full + peer.counts.since;
  const start = Date.now();
  peer.revoke({ sid: "pushed", exp: peer.nowSec() + 600 });
  await eventually(() => rejection(verifier.verify(token, { transport: "header" })), "pushed revocation", 1000);
  const elapsed = Date.now() - start;
  t.ok(elapsed < 1000, `enforced after ${elapsed} ms`);
  t.equal(peer.counts.full + peer.counts.since, polls, "the stream alone carried it");
});

t.test("with the stream down, polling keeps the list fresh and carries revocations", async (t) => {
  const { peer, verifier } = await setup(t, {
    verifier: { maxStalenessMs: 1200, requestTimeoutMs: 500, reconnectDelayMs: { min: 50, max: 200 } },
  });
  const token = await peer.sign();
  const victim = await peer.sign({ claims: { sid: "polled" } });
  peer.refuseStreams = true;
  peer.dropStreams();
  const polledBefore = peer.counts.since;
  const until = Date.now() + 2000;
  let revokedAt = 0;
  while (Date.now() < until) {
    await verifier.verify(token, { transport: "header" }); // throws (fails the test) if ever stale
    if (revokedAt === 0 && Date.now() > until - 1400) {
      peer.revoke({ sid: "polled", exp: peer.nowSec() + 600 });
      revokedAt = Date.now();
    }
    await delay(25);
  }
  t.not(verifier.status().stream, "open");
  t.ok(peer.counts.since - polledBefore >= 3, `polled ${peer.counts.since - polledBefore} times with ?since=`);
  t.match(
    await rejection(verifier.verify(victim, { transport: "header" })),
    { code: "token_revoked" },
    "a revocation reached the verifier by polling",
  );

  peer.refuseStreams = false;
  await eventually(async () => {
    if (verifier.status().stream !== "open" || peer.openStreams !== 1) throw new Error("stream not back");
  }, "stream reconnect");
  t.pass("the stream comes back once the server accepts it");
});

t.test("a server that stops answering for longer than maxStaleness makes verify fail closed, until it returns", async (t) => {
  const { peer, verifier } = await setup(t, {
    verifier: { maxStalenessMs: 800, requestTimeoutMs: 300, reconnectDelayMs: { min: 50, max: 200 } },
  });
  const token = await peer.sign();
  await verifier.verify(token, { transport: "header" });
  peer.stopAnswering();
  const err = await eventually(() => rejection(verifier.verify(token, { transport: "header" })), "stale list", 4000);
  t.type(err, RevocationListStaleError, "even a cached token is refused");
  t.match(err, { code: "revocation_list_stale", status: 503 });
  t.equal(verifier.status().stale, true);
  peer.resume();
  await eventually(() => verifier.verify(token, { transport: "header" }), "recovery", 4000);
  t.equal(verifier.status().stale, false, "recovers when the server answers again");
});

t.test("staleness is judged by the injected clock: 30 s without a sync fails closed by default", async (t) => {
  const clock = new FakeClock();
  const { peer, verifier } = await setup(t, {
    peer: { clock },
    verifier: { clock, requestTimeoutMs: 300, reconnectDelayMs: { min: 50, max: 200 } },
  });
  const token = await peer.sign({ ttlSec: 3600 });
  await verifier.verify(token, { transport: "header" });
  peer.stopAnswering();
  clock.advance(29 * SECOND);
  t.equal((await verifier.verify(token, { transport: "header" })).sub, "user-1", "29 s old is still fresh");
  clock.advance(2 * SECOND);
  const err = await rejection(verifier.verify(token, { transport: "header" }));
  t.type(err, RevocationListStaleError);
  t.ok(err instanceof RevocationListStaleError && err.lastSyncAt !== null, "the error says when the list last synced");
  peer.resume();
  await eventually(() => verifier.verify(token, { transport: "header" }), "recovery by stream reconnect");
  t.pass("the reconnected stream brings it back");
});

t.test("a cursor the server forgot (410 Gone) leads to a full reload", async (t) => {
  const { peer, verifier } = await setup(t, {
    verifier: { maxStalenessMs: 900, requestTimeoutMs: 300, reconnectDelayMs: { min: 50, max: 200 } },
  });
  const victim = await peer.sign({ claims: { sid: "after-gone" } });
  peer.refuseStreams = true;
  peer.dropStreams();
  peer.revoke({ sid: "after-gone", exp: peer.nowSec() + 600 });
  peer.forgetHistory();
  await eventually(
    () => rejection(verifier.verify(victim, { transport: "header" })).then((e) => (e.code === "token_revoked" ? e : Promise.reject(e))),
    "full reload",
  );
  t.ok(peer.counts.gone >= 1, "the since poll was answered 410");
  t.ok(peer.counts.full >= 1, "and followed by a full GET");
});

t.test("a heartbeat whose cursor is not the client's makes it catch up by polling", async (t) => {
  const { peer } = await setup(t, { verifier: { pollIntervalMs: 60 * SECOND } });
  const before = peer.counts.since;
  peer.heartbeatCursor = "999999";
  await eventually(async () => {
    if (peer.counts.since === before) throw new Error("no catch-up poll yet");
  }, "catch-up poll");
  t.pass("polled ?since= after a mismatched heartbeat");
});

t.test("the verified-token cache still enforces revocation, expiry and staleness on every call", async (t) => {
  const clock = new FakeClock();
  const { peer, verifier } = await setup(t, { peer: { clock }, verifier: { clock, maxStalenessMs: 10 * MINUTE } });
  const token = await peer.sign({ claims: { sid: "cached" }, ttlSec: 60 });
  const first = await verifier.verify(token, { transport: "header" });
  const second = await verifier.verify(token, { transport: "header" });
  t.equal(second, first, "a repeated token is served from the cache");
  t.equal(verifier.status().cachedTokens, 1);

  clock.advance(60 * SECOND);
  t.match(
    await rejection(verifier.verify(token, { transport: "header" })),
    { code: "invalid_token", reason: "ERR_JWT_EXPIRED" },
    "expiry is checked on a hit",
  );
  t.equal(verifier.status().cachedTokens, 0, "and the expired entry is dropped");

  const other = await peer.sign({ claims: { sid: "cached-2" } });
  await verifier.verify(other, { transport: "header" });
  peer.revoke({ sid: "cached-2", exp: peer.nowSec() + 600 });
  t.match(await eventually(() => rejection(verifier.verify(other, { transport: "header" })), "revocation on a hit"), {
    code: "token_revoked",
  });
  t.equal(verifier.status().cachedTokens, 1, "the revoked token was a cache hit");
});

t.test("a repeated token costs far less than a first-seen one", async (t) => {
  const { peer, verifier } = await setup(t);
  const tokens = await Promise.all(Array.from({ length: 200 }, () => peer.sign()));
  let start = process.hrtime.bigint();
  for (const tok of tokens) await verifier.verify(tok, { transport: "header" });
  const firstSeen = Number(process.hrtime.bigint() - start) / tokens.length;
  start = process.hrtime.bigint();
  for (let i = 0; i < 10; i++) for (const tok of tokens) await verifier.verify(tok, { transport: "header" });
  const repeated = Number(process.hrtime.bigint() - start) / (tokens.length * 10);
  t.ok(repeated * 10 < firstSeen, `first seen ${(firstSeen / 1000).toFixed(1)} µs, repeated ${(repeated / 1000).toFixed(2)} µs`);
});

t.test("the client authenticates with RFC 6749 §2.3.1 Basic credentials; bad ones never sync", async (t) => {
  const peer = await RevocationPeer.start();
  const errors: unknown[] = [];
  const verifier = createVerifier({
    ...peer.verifierOptions,
    clientSecret: "wrong",
    requestTimeoutMs: 300,
    onError: (e) => errors.push(e),
  });
  t.teardown(async () => {
    await verifier.close();
    await peer.close();
  });
  const token = await peer.sign();
  await eventually(async () => {
    if (peer.counts.unauthorized < 2) throw new Error("not yet");
  }, "stream and poll refused");
  t.match(await rejection(verifier.verify(token, { transport: "header" })), { code: "revocation_list_stale" }, "fails closed");
  t.ok(
    errors.some((e) => e instanceof Error && /answered 401/.test(e.message)),
    "the 401 is reported to onError",
  );
  t.equal(verifier.status().revocationsSyncedAt, null);
});

t.test("close() stops the stream and rejects later calls; ready() rejects if closed first", async (t) => {
  const { peer, verifier } = await setup(t);
  t.equal(peer.openStreams, 1);
  await verifier.close();
  await eventually(async () => {
    if (peer.openStreams !== 0) throw new Error("stream still open");
  }, "stream closed");
  t.match(await rejection(verifier.verify(await peer.sign(), { transport: "header" })), { code: "verifier_closed" });

  const early = createVerifier({
    ...peer.verifierOptions,
    revocationsUri: "http://127.0.0.1:9/revocations",
    jwksUri: "http://127.0.0.1:9/jwks",
  });
  await early.close();
  await t.rejects(early.ready(), { code: "verifier_closed" });
});

t.test("close() ends an open stream and hung requests even after a GC (nodejs/node#55428)", async (t) => {
  // undici follows the caller's AbortSignal through a weak reference; after a
  // GC, aborting may no longer reach a request or its streaming body.
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const collect = async () => {
    gc();
    await delay(20);
    gc();
  };

  const streaming = await setup(t);
  await collect();
  await bounded(streaming.verifier.close(), 2000, "close() with an open stream after GC");
  await eventually(async () => {
    if (streaming.peer.openStreams !== 0) throw new Error("stream still open");
  }, "the server sees the stream end");

  const hung = await setup(t, { verifier: { maxStalenessMs: 600, requestTimeoutMs: 5000, reconnectDelayMs: { min: 20, max: 50 } } });
  hung.peer.stopAnswering();
  await eventually(async () => {
    if (hung.peer.heldRequests < 2) throw new Error("not hanging yet");
  }, "a poll and a stream held by the server");
  await collect();
  await bounded(hung.verifier.close(), 2000, "close() with requests awaiting headers after GC");
  t.pass("close() settled both");
});

t.test("after close() nothing keeps the process alive", async (t) => {
  const peer = await RevocationPeer.start();
  t.teardown(() => peer.close());
  const token = await peer.sign();
  const script = `
    const { createVerifier } = await import(process.env.VERIFIER_MODULE);
    const v = createVerifier(JSON.parse(process.env.VERIFIER_OPTIONS));
    await v.ready();
    const claims = await v.verify(process.env.TOKEN, { transport: "header" });
    await v.close();
    process.stdout.write("closed " + claims.sub + "\\n");
  `;
  const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    env: {
      ...process.env,
      VERIFIER_MODULE: new URL("../../src/verifier/index.ts", import.meta.url).href,
      VERIFIER_OPTIONS: JSON.stringify(peer.verifierOptions),
      TOKEN: token,
    },
    cwd: fileURLToPath(new URL("../..", import.meta.url)),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  let closedAt = 0;
  child.stdout.on("data", (d: Buffer) => {
    out += d.toString();
    if (closedAt === 0 && out.includes("closed")) closedAt = Date.now();
  });
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000);
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  clearTimeout(killer);
  t.equal(code, 0, `child exited by itself ${err}`);
  t.match(out, "closed user-1");
  t.ok(closedAt > 0 && Date.now() - closedAt < 2000, `exited ${Date.now() - closedAt} ms after close()`);
});
