import { randomBytes } from "node:crypto";
import t from "tap";
import { exportSPKI, generateKeyPair, importJWK, jwtVerify, SignJWT, type CryptoKey, type JWTPayload } from "jose";
import { AppError } from "../../src/domain/errors.js";
import { createAccessTokenSigner, createAccessTokenVerifier, MAX_TOKEN_LENGTH } from "../../src/keys/access-tokens.js";
import { KeyManager } from "../../src/keys/key-manager.js";
import { FakeClock, DAY, HOUR, MINUTE } from "../fixtures/clock.js";
import { MemoryKeyStore } from "../fixtures/memory-key-store.js";

const SETTINGS = { issuer: "https://auth.example", audience: ["api"], maxLifetimeSec: 600 };
const clock = new FakeClock(Date.UTC(2030, 0, 1));
const keys = new KeyManager(
  new MemoryKeyStore(),
  randomBytes(32),
  { algorithm: "ES256", rotationIntervalMs: DAY, prepublishMs: HOUR, accessTokenTtlMs: 10 * MINUTE },
  clock,
);
await keys.ensure();
let unknownKidLookups = 0;
const verifier = createAccessTokenVerifier(keys, SETTINGS, clock, async () => {
  unknownKidLookups++;
});
const signer = createAccessTokenSigner(keys, SETTINGS);
const { kid, privateKey } = keys.signingKey();
const now = Math.floor(clock.now().getTime() / 1000);

/** A token signed with the real key; claims and header overridable (undefined drops a claim). */
function forge(claims: JWTPayload = {}, header: Record<string, unknown> = {}, key: CryptoKey | Uint8Array = privateKey): Promise<string> {
  const payload: JWTPayload = {
    iss: SETTINGS.issuer,
    aud: "api",
    sub: "u1",
    sid: "s1",
    jti: "j1",
    trn: "bearer",
    iat: now,
    exp: now + 600,
    ...claims,
  };
  for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
  return new SignJWT(payload).setProtectedHeader({ alg: "ES256", kid, typ: "at+jwt", ...header } as { alg: string }).sign(key);
}

const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

/** The AppError verify() rejects with. */
async function rejection(token: string): Promise<AppError> {
  try {
    await verifier.verify(token);
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error("expected verify() to reject");
}

t.test("a token from the signer verifies", async (t) => {
  const token = await signer.sign({ sub: "u1", sid: "s1", trn: "cookie", client_id: "default", iat: now, exp: now + 600 });
  t.match(await verifier.verify(token), { iss: SETTINGS.issuer, aud: "api", sub: "u1", sid: "s1", trn: "cookie", jti: String });
});

for (const algorithm of ["ES256", "RS256", "EdDSA"] as const) {
  t.test(`a ${algorithm} token from the signer is a standard JWS that jose verifies with the published key`, async (t) => {
    const ks = new KeyManager(
      new MemoryKeyStore(),
      randomBytes(32),
      { algorithm, rotationIntervalMs: DAY, prepublishMs: HOUR, accessTokenTtlMs: 10 * MINUTE },
      clock,
    );
    await ks.ensure();
    const settings = { ...SETTINGS, audience: ["api", "other"] };
    const token = await createAccessTokenSigner(ks, settings).sign({
      sub: "u1",
      sid: "s1",
      trn: "bearer",
      client_id: "default",
      iat: now,
      exp: now + 600,
    });
    const [header, payload] = token
      .split(".")
      .slice(0, 2)
      .map((part) => JSON.parse(Buffer.from(part, "base64url").toString("utf8")));
    const { kid: signingKid } = ks.signingKey();
    t.same(header, { alg: algorithm, kid: signingKid, typ: "at+jwt" });
    t.match(payload, {
      sid: "s1",
      trn: "bearer",
      iss: SETTINGS.issuer,
      sub: "u1",
      aud: ["api", "other"],
      iat: now,
      exp: now + 600,
      jti: /^[0-9a-f-]{36}$/,
    });
    const jwk = ks.jwks().keys.find((k) => k.kid === signingKid)!;
    const verified = await jwtVerify(token, await importJWK(jwk, algorithm), {
      issuer: SETTINGS.issuer,
      audience: "other",
      currentDate: clock.now(),
      typ: "at+jwt",
    });
    t.equal(verified.protectedHeader.alg, algorithm);
    t.match(await createAccessTokenVerifier(ks, settings, clock).verify(token), { sub: "u1", sid: "s1" });
    // A flipped signature byte fails: the signature really covers header and payload.
    const sig = Buffer.from(token.split(".")[2]!, "base64url");
    sig[0] = sig[0]! ^ 1;
    await t.rejects(jwtVerify(`${token.split(".").slice(0, 2).join(".")}.${sig.toString("base64url")}`, await importJWK(jwk, algorithm)));
  });
}

t.test("alg none is rejected", async (t) => {
  const token = `${b64url({ alg: "none", kid, typ: "at+jwt" })}.${b64url({ iss: SETTINGS.issuer, aud: "api", sub: "u1", sid: "s1", jti: "j", trn: "bearer", iat: now, exp: now + 600 })}.`;
  t.match(await rejection(token), { code: "invalid_token", status: 401, detail: "ERR_JOSE_ALG_NOT_ALLOWED" });
});

t.test("HS256 keyed with the public key's bytes (algorithm confusion) is rejected", async (t) => {
  const jwk = keys.jwks().keys[0]!;
  const pem = await exportSPKI((await importJWK(jwk, "ES256")) as CryptoKey);
  for (const secret of [pem, JSON.stringify(jwk)]) {
    const token = await forge({}, { alg: "HS256" }, new TextEncoder().encode(secret));
    t.match(await rejection(token), { code: "invalid_token", detail: "ERR_JOSE_ALG_NOT_ALLOWED" });
  }
});

t.test("a token naming an unknown kid is rejected after one reload attempt", async (t) => {
  const stranger = await generateKeyPair("ES256");
  const before = unknownKidLookups;
  const err = await rejection(await forge({}, { kid: "not-a-published-kid" }, stranger.privateKey));
  t.match(err, { code: "invalid_token", description: /unknown key/ });
  t.equal(unknownKidLookups, before + 1, "the verifier asked for a reload once");
});

t.test("a kid carrying a path or an injection string is just an unknown kid", async (t) => {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a log4shell-style kid, on purpose
  for (const injected of ["../../../../etc/passwd", "' OR '1'='1", "${jndi:ldap://x}", "kid\u0000null"]) {
    const err = await rejection(await forge({}, { kid: injected }));
    t.match(err, { code: "invalid_token", description: /unknown key/ }, JSON.stringify(injected));
  }
  t.match(
    await rejection(await forge({}, { kid: "k".repeat(129) })),
    { code: "invalid_token", description: /no usable kid/ },
    "an oversized kid",
  );
  t.match(await rejection(await forge({}, { kid: 42 })), { code: "invalid_token", description: /no usable kid/ }, "a non-string kid");
});

t.test("an RS256 header on the ES256 key's kid is rejected", async (t) => {
  const rsa = await generateKeyPair("RS256");
  t.match(await rejection(await forge({}, { alg: "RS256" }, rsa.privateKey)), {
    code: "invalid_token",
    description: /algorithm does not match/,
  });
});

t.test("an expired token is rejected", async (t) => {
  t.match(await rejection(await forge({ iat: now - 700, exp: now - 100 })), { code: "invalid_token", detail: "ERR_JWT_EXPIRED" });
  t.match(await rejection(await forge({ exp: now })), { code: "invalid_token", detail: "ERR_JWT_EXPIRED" }, "exp == now is expired");
});

t.test("a token whose nbf is in the future is rejected", async (t) => {
  t.match(await rejection(await forge({ nbf: now + 60 })), { code: "invalid_token", detail: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
});

t.test("a wrong issuer is rejected", async (t) => {
  t.match(await rejection(await forge({ iss: "https://evil.example" })), {
    code: "invalid_token",
    detail: "ERR_JWT_CLAIM_VALIDATION_FAILED",
  });
});

t.test("a wrong audience is rejected", async (t) => {
  t.match(await rejection(await forge({ aud: "another-api" })), { code: "invalid_token", detail: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
});

t.test("a tampered payload is rejected", async (t) => {
  const [h, , sig] = (await forge()).split(".");
  const tampered = `${h}.${b64url({ iss: SETTINGS.issuer, aud: "api", sub: "admin", sid: "s1", jti: "j1", trn: "bearer", iat: now, exp: now + 600 })}.${sig}`;
  t.match(await rejection(tampered), { code: "invalid_token", detail: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" });
});

t.test("a truncated token is rejected", async (t) => {
  const token = await forge();
  t.match(
    await rejection(token.slice(0, token.lastIndexOf("."))),
    { code: "invalid_token", detail: "ERR_JWS_INVALID" },
    "without its signature part",
  );
  t.match(
    await rejection(token.slice(0, -8)),
    { code: "invalid_token", detail: "ERR_JWS_SIGNATURE_VERIFICATION_FAILED" },
    "with a shortened signature",
  );
});

t.test("an oversized token is rejected before any parsing", async (t) => {
  const token = await forge({ pad: "x".repeat(MAX_TOKEN_LENGTH) });
  t.ok(token.length > MAX_TOKEN_LENGTH);
  t.match(await rejection(token), { code: "invalid_token", description: "malformed token" });
});

t.test("a typ other than at+jwt is rejected", async (t) => {
  t.match(await rejection(await forge({}, { typ: "JWT" })), { code: "invalid_token", detail: "ERR_JWT_CLAIM_VALIDATION_FAILED" });
  t.match(
    await rejection(await forge({}, { typ: undefined })),
    { code: "invalid_token", detail: "ERR_JWT_CLAIM_VALIDATION_FAILED" },
    "or none at all",
  );
});

t.test("a token missing a claim the product relies on is rejected", async (t) => {
  for (const claim of ["sub", "sid", "jti", "iat", "exp", "trn"]) {
    t.match(await rejection(await forge({ [claim]: undefined })), { code: "invalid_token" }, `no ${claim}`);
  }
  t.match(
    await rejection(await forge({ trn: "pigeon" })),
    { code: "invalid_token", description: /malformed/ },
    "a trn that is neither bearer nor cookie",
  );
  t.match(
    await rejection(await forge({ sub: 42 } as unknown as JWTPayload)),
    { code: "invalid_token", description: /malformed/ },
    "a non-string sub",
  );
});

t.test("a token whose iat is in the future beyond the skew, or whose lifetime exceeds ACCESS_TOKEN_TTL, is refused", async (t) => {
  t.match(
    await rejection(await forge({ iat: now + 3600, exp: now + 3600 + 600 })),
    { code: "invalid_token", detail: "iat_in_future" },
    "iat an hour ahead",
  );
  t.match(
    await rejection(await forge({ iat: now - 10, exp: now + 10 * 365 * 86400 })),
    { code: "invalid_token", detail: "lifetime_too_long" },
    "a ten-year token",
  );
  t.match(
    await rejection(await forge({ iat: now, exp: now + 601 })),
    { detail: "lifetime_too_long" },
    "one second past the longest lifetime",
  );
  t.match(
    await verifier.verify(await forge({ iat: now + 1, exp: now + 601 })),
    { sub: "u1" },
    "an iat one second ahead (the issuer's own rounding) passes",
  );
  t.match(await verifier.verify(await forge({ iat: now, exp: now + 600 })), { sub: "u1" }, "exactly the longest lifetime passes");
});
