// The local verification library (src/verifier) in process: verify() on
// first-seen tokens and on a repeated token, revocation check included,
// against jose's jwtVerify with the key in hand, on the same tokens. The
// verifier syncs JWKS and revocations from a real listening instance; no
// HTTP happens inside the timed loops.
import { importJWK, jwtVerify, type JWK, type JWTVerifyOptions } from "jose";
import type { BenchContext } from "./lib/context.js";
import { postForm } from "./lib/http.js";
import { seedUsers } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { createDeployment, startInstance } from "./lib/service.js";
import { fmt, median } from "./lib/stats.js";
import type { Row } from "./lib/table.js";

/** Revoked sessions in the verifier's list while it is measured (the check is never against an empty list). */
const REVOKED = 100;

export async function run(ctx: BenchContext): Promise<Row[]> {
  // Imported here: the library may still be in progress while other benchmarks run.
  const { createVerifier } = await import("../src/verifier/index.js");
  const distinct = ctx.quick ? 300 : 2000;
  const repeats = ctx.quick ? 20_000 : 200_000;
  const rounds = ctx.quick ? 2 : 5;

  return withScope(async (scope) => {
    ctx.log(`verifier: starting the service and issuing ${distinct + REVOKED} sessions`);
    const deployment = await createDeployment(scope, "verifier");
    const service = await startInstance(scope, deployment, "service");
    const users = await seedUsers(deployment.databaseUrl, Math.ceil((distinct + REVOKED) / 5));
    const client = await service.createClient(["sessions:issue", "revocations:read", "revoke"], "verifier bench");
    const subjects = Array.from({ length: distinct + REVOKED }, (_, i) => users[i % users.length]!);
    const sessions = await service.issueSessions(client, subjects);
    const tokens = sessions.slice(0, distinct).map((s) => s.access_token);
    for (const s of sessions.slice(distinct)) {
      const r = await postForm(`${service.url}/revoke`, { token: s.access_token }, { authorization: client.basic });
      if (r.status !== 200) throw new Error(`POST /revoke: ${r.status}`);
    }

    // The baseline: jose alone, the key already imported, the same checks the verifier asks jose for.
    const jwks = (await (await fetch(`${service.url}/.well-known/jwks.json`)).json()) as {
      keys: Array<JWK & { kid: string; alg: string }>;
    };
    const kid = JSON.parse(Buffer.from(tokens[0]!.split(".")[0]!, "base64url").toString()).kid as string;
    const jwk = jwks.keys.find((k) => k.kid === kid);
    if (!jwk) throw new Error("the token's key is not in the JWKS");
    const key = await importJWK(jwk, jwk.alg);
    const joseOptions: JWTVerifyOptions = {
      issuer: deployment.issuer,
      audience: deployment.issuer,
      algorithms: ["ES256", "RS256", "EdDSA"],
      typ: "at+jwt",
      requiredClaims: ["sub", "sid", "jti", "iat", "exp", "trn"],
    };
    const jose = (t: string) => jwtVerify(t, key, joseOptions);

    const newVerifier = async () => {
      const v = createVerifier({
        issuer: deployment.issuer,
        audience: deployment.issuer,
        jwksUri: `${service.url}/.well-known/jwks.json`,
        revocationsUri: `${service.url}/revocations`,
        clientId: client.id,
        clientSecret: client.secret,
      });
      await v.ready();
      const entries = v.status().revocationEntries;
      if (entries < REVOKED) throw new Error(`the verifier mirrors ${entries} revocations, expected ${REVOKED}`);
      return v;
    };
    const timed = async (list: readonly string[], fn: (t: string) => Promise<unknown>): Promise<number> => {
      const t0 = performance.now();
      for (const t of list) await fn(t);
      return performance.now() - t0;
    };

    // First-seen: a fresh verifier per round, so every token is new to its cache.
    ctx.log(`verifier: first-seen tokens, ${rounds} rounds of ${distinct}`);
    const warm = await newVerifier();
    await timed(tokens, (t) => warm.verify(t, { transport: "header" }));
    await timed(tokens, jose);
    await warm.close();
    const firstSeen: number[] = [];
    const joseFirst: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const v = await newVerifier();
      // Alternate the order, so neither side always runs on a warmer machine.
      if (r % 2 === 0) {
        firstSeen.push(await timed(tokens, (t) => v.verify(t, { transport: "header" })));
        joseFirst.push(await timed(tokens, jose));
      } else {
        joseFirst.push(await timed(tokens, jose));
        firstSeen.push(await timed(tokens, (t) => v.verify(t, { transport: "header" })));
      }
      await v.close();
    }

    ctx.log(`verifier: repeated token, ${rounds} rounds of ${repeats}`);
    const token = tokens[0]!;
    const same = Array.from({ length: repeats }, () => token);
    const joseSame = Array.from({ length: distinct }, () => token);
    const v = await newVerifier();
    await timed(same.slice(0, 10_000), (t) => v.verify(t, { transport: "header" }));
    const repeated: number[] = [];
    const joseRepeated: number[] = [];
    for (let r = 0; r < rounds; r++) {
      repeated.push(await timed(same, (t) => v.verify(t, { transport: "header" })));
      joseRepeated.push(await timed(joseSame, jose));
    }
    await v.close();

    const usFirst = (median(firstSeen) * 1000) / distinct;
    const usJose = (median(joseFirst) * 1000) / distinct;
    const usRepeated = (median(repeated) * 1000) / repeats;
    const usJoseRepeated = (median(joseRepeated) * 1000) / distinct;
    const perOp = (us: number) => `${fmt(1e6 / us)} ops/s (${fmt(us)} µs)`;
    return [
      {
        benchmark: `verifier verify(), first-seen tokens (${distinct} distinct, ${REVOKED} revocations mirrored)`,
        measured: perOp(usFirst),
        baseline: `jose jwtVerify ${perOp(usJose)}`,
        ratio: `${(usFirst / usJose).toFixed(2)}× the cost`,
        goal: "≤ 1.2× jose's cost",
        met: usFirst / usJose <= 1.2,
      },
      {
        benchmark: "verifier verify(), repeated token (revocation check included)",
        measured: perOp(usRepeated),
        baseline: `jose jwtVerify ${perOp(usJoseRepeated)}`,
        ratio: `${(usJoseRepeated / usRepeated).toFixed(1)}× faster`,
        goal: "≥ 20× faster",
        met: usJoseRepeated / usRepeated >= 20,
      },
    ];
  });
}
