// Revocation propagation. For each of N sessions: its token verifies; POST
// /logout answers 204; from that moment, (a) a streaming verifier
// (src/verifier against a real listening instance) is polled until it
// rejects the token, and (b) a sibling instance on the same Postgres and
// Redis is asked POST /introspect at once: any active:true is stale.
import type { BenchContext } from "./lib/context.js";
import { postForm } from "./lib/http.js";
import { seedUsers } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { createDeployment, startInstance } from "./lib/service.js";
import { fmt, percentile } from "./lib/stats.js";
import type { Row } from "./lib/table.js";

/** Give up on one token after this long (counted as a miss). */
const GIVE_UP_MS = 5_000;
/** How often the verifier is asked again while the token still passes. */
const POLL_MS = 1;

export async function run(ctx: BenchContext): Promise<Row[]> {
  const { createVerifier, TokenRevokedError } = await import("../src/verifier/index.js");
  const count = ctx.quick ? 100 : 1000;

  return withScope(async (scope) => {
    ctx.log(`propagation: two instances on one Postgres + Redis; ${count} sessions`);
    const deployment = await createDeployment(scope, "propagation");
    const a = await startInstance(scope, deployment, "service A");
    const b = await startInstance(scope, deployment, "service B (sibling)");
    const client = await a.createClient(["sessions:issue", "revocations:read", "introspect"], "propagation bench");
    const users = await seedUsers(deployment.databaseUrl, Math.ceil(count / 5));
    const sessions = await a.issueSessions(
      client,
      Array.from({ length: count }, (_, i) => users[i % users.length]!),
    );

    const verifier = createVerifier({
      issuer: deployment.issuer,
      audience: deployment.issuer,
      jwksUri: `${a.url}/.well-known/jwks.json`,
      revocationsUri: `${a.url}/revocations`,
      clientId: client.id,
      clientSecret: client.secret,
    });
    scope.defer("verifier", () => verifier.close());
    await verifier.ready();
    for (let i = 0; verifier.status().stream !== "open"; i++) {
      if (i > 500) throw new Error("the verifier's revocation stream did not open within 5 s");
      await new Promise((r) => setTimeout(r, 10));
    }

    const latencies: number[] = [];
    let missed = 0;
    let stale = 0;
    let siblingErrors = 0;
    ctx.log(`propagation: ${count} logouts, one at a time`);
    for (const s of sessions) {
      await verifier.verify(s.access_token, { transport: "header" }); // seen, and cached, before the logout
      const res = await fetch(`${a.url}/logout`, { method: "POST", headers: { authorization: `Bearer ${s.access_token}` } });
      const answered = performance.now();
      if (res.status !== 204) throw new Error(`POST /logout: ${res.status} ${await res.text()}`);
      const sibling = postForm(`${b.url}/introspect`, { token: s.access_token }, { authorization: client.basic });
      for (;;) {
        const rejected = await verifier.verify(s.access_token, { transport: "header" }).then(
          () => false,
          (err: unknown) => {
            if (err instanceof TokenRevokedError) return true;
            throw err;
          },
        );
        const elapsed = performance.now() - answered;
        if (rejected) {
          latencies.push(elapsed);
          break;
        }
        if (elapsed > GIVE_UP_MS) {
          missed++;
          break;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      const answer = await sibling;
      if (answer.status !== 200) siblingErrors++;
      else if ((answer.body as { active?: boolean }).active !== false) stale++;
    }

    const sorted = latencies.length > 0 ? latencies : [Number.POSITIVE_INFINITY];
    const p99 = missed > 0 ? Number.POSITIVE_INFINITY : percentile(sorted, 99);
    return [
      {
        benchmark: `revocation propagation: logout answered → streaming verifier rejects (${count} logouts)`,
        measured: `p50 ${fmt(percentile(sorted, 50))} ms, p99 ${missed > 0 ? `> ${GIVE_UP_MS}` : fmt(p99)} ms, max ${fmt(Math.max(...sorted))} ms${missed > 0 ? `, ${missed} never within ${GIVE_UP_MS / 1000} s` : ""}`,
        baseline: "—",
        ratio: "—",
        goal: "p99 < 100 ms",
        met: p99 < 100,
      },
      {
        benchmark: `sibling instance POST /introspect right after each logout answered (${count})`,
        measured: `${stale} stale active:true${siblingErrors > 0 ? `, ${siblingErrors} errors` : ""}`,
        baseline: "—",
        ratio: "—",
        goal: "0",
        met: stale === 0 && siblingErrors === 0,
      },
    ];
  });
}
