// Cost growth: POST /introspect and POST /refresh with few vs many sessions
// in Postgres (seeded with generate_series), and the service's memory under
// the introspection load with a large revocation list mirrored.
import type { BenchContext } from "./lib/context.js";
import { introspectJob } from "./introspect.js";
import { runLoad, type LoadJob, type LoadResult } from "./lib/load.js";
import { withScope } from "./lib/scope.js";
import { seedRevocations, seedSessions } from "./lib/seed.js";
import { createDeployment, startInstance, type Instance } from "./lib/service.js";
import { fmt, median, mib, ratio } from "./lib/stats.js";
import type { Row } from "./lib/table.js";
import { refreshJob } from "./refresh.js";

const SMALL = 1_000;
const REVOCATIONS = 100_000;

async function mirrorSize(service: Instance): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  const m = /^session_authority_revocation_list_entries (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

export async function run(ctx: BenchContext): Promise<Row[]> {
  const large = ctx.quick ? 100_000 : 1_000_000;
  const label = (n: number) => (n >= 1_000_000 ? `${n / 1_000_000} M` : `${n / 1000} k`);

  return withScope(async (scope) => {
    ctx.log(`growth: three deployments: ${label(SMALL)} sessions, ${label(large)} sessions, ${label(REVOCATIONS)} revocations`);
    const setUp = async (name: string, sessions: number) => {
      const deployment = await createDeployment(scope, name);
      const service = await startInstance(scope, deployment, `service (${name})`);
      await seedSessions(deployment.databaseUrl, sessions, name, (m) => ctx.log(`growth: ${name}: ${m}`));
      return service;
    };
    const small = await setUp("small", SMALL);
    const big = await setUp("large", large);
    const revoked = await setUp("revoked", SMALL);
    // Live for longer than the benchmark runs: the mirror must not prune them meanwhile.
    await seedRevocations(revoked.deployment.databaseUrl, REVOCATIONS, "revoked", 30);
    for (let i = 0; (await mirrorSize(revoked)) < REVOCATIONS; i++) {
      if (i > 300) throw new Error(`the mirror holds ${await mirrorSize(revoked)} entries after 60 s, expected ${REVOCATIONS}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const revokedIdleRss = await revoked.child.rss();

    const jobs = new Map<Instance, { introspect: LoadJob; refresh: LoadJob }>();
    for (const service of [small, big, revoked]) {
      const issuer = await service.createClient(["sessions:issue"], "issuer");
      jobs.set(service, {
        introspect: await introspectJob(service, ctx.connections, ctx.durationSec),
        refresh: await refreshJob(service, issuer, ctx.writeConnections, ctx.durationSec),
      });
    }
    const introspect = (s: Instance, durationSec = ctx.durationSec) =>
      runLoad({ ...jobs.get(s)!.introspect, durationSec }, { sampleRssOf: s.child });
    const refresh = async (s: Instance, durationSec = ctx.durationSec) => {
      const j = jobs.get(s)!;
      const r = await runLoad({ ...j.refresh, durationSec });
      // Chains carry on from run to run: a rotated token is never presented again.
      if (r.remainingTokens && j.refresh.body.kind === "refresh-chain")
        j.refresh = { ...j.refresh, body: { ...j.refresh.body, tokens: r.remainingTokens } };
      return r;
    };

    ctx.log(`growth: warm-up ${ctx.warmupSec} s each`);
    for (const s of [small, big, revoked]) await introspect(s, ctx.warmupSec);
    for (const s of [small, big]) await refresh(s, ctx.warmupSec);

    const results = {
      introspectSmall: [] as LoadResult[],
      introspectBig: [] as LoadResult[],
      introspectRevoked: [] as LoadResult[],
      refreshSmall: [] as LoadResult[],
      refreshBig: [] as LoadResult[],
    };
    const peak = { small: 0, revoked: 0 };
    for (let i = 0; i < ctx.runs; i++) {
      ctx.log(`growth: run ${i + 1}/${ctx.runs}`);
      const a = await introspect(small);
      peak.small = Math.max(peak.small, a.peakRss ?? 0);
      results.introspectSmall.push(a);
      results.introspectBig.push(await introspect(big));
      const c = await introspect(revoked);
      peak.revoked = Math.max(peak.revoked, c.peakRss ?? 0);
      results.introspectRevoked.push(c);
      results.refreshSmall.push(await refresh(small));
      results.refreshBig.push(await refresh(big));
    }
    const rps = (rs: LoadResult[]) => median(rs.map((r) => r.rps));
    const failed = (rs: LoadResult[]) => rs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts + r.bad, 0);
    const note = (rs: LoadResult[]) => (failed(rs) > 0 ? ` (${failed(rs)} failed)` : "");
    const within = (m: number, b: number): Row["met"] => m / b >= 0.9;
    const mirrored = await mirrorSize(revoked);
    return [
      {
        benchmark: `POST /introspect req/s, ${label(large)} vs ${label(SMALL)} sessions in Postgres`,
        measured: `${fmt(rps(results.introspectBig))} req/s${note(results.introspectBig)}`,
        baseline: `${fmt(rps(results.introspectSmall))} req/s${note(results.introspectSmall)}`,
        ratio: ratio(rps(results.introspectBig), rps(results.introspectSmall)),
        goal: "within 10 % (≥ 0.90×)",
        met: within(rps(results.introspectBig), rps(results.introspectSmall)),
      },
      {
        benchmark: `POST /refresh rotations/s, ${label(large)} vs ${label(SMALL)} sessions in Postgres`,
        measured: `${fmt(rps(results.refreshBig))}/s${note(results.refreshBig)}`,
        baseline: `${fmt(rps(results.refreshSmall))}/s${note(results.refreshSmall)}`,
        ratio: ratio(rps(results.refreshBig), rps(results.refreshSmall)),
        goal: "within 10 % (≥ 0.90×)",
        met: within(rps(results.refreshBig), rps(results.refreshSmall)),
      },
      {
        benchmark: `service RSS under introspection load, ${label(REVOCATIONS)} revocation entries mirrored (vs none)`,
        measured: `${mib(peak.revoked)} peak (${mib(revokedIdleRss)} idle; ${mirrored.toLocaleString("en-US")} entries)`,
        baseline: `${mib(peak.small)} peak`,
        ratio: ratio(peak.revoked, peak.small),
        goal: "report",
        met: null,
      },
      {
        benchmark: `POST /introspect req/s with ${label(REVOCATIONS)} revocation entries mirrored (vs none)`,
        measured: `${fmt(rps(results.introspectRevoked))} req/s${note(results.introspectRevoked)}`,
        baseline: `${fmt(rps(results.introspectSmall))} req/s`,
        ratio: ratio(rps(results.introspectRevoked), rps(results.introspectSmall)),
        goal: "report",
        met: null,
      },
    ];
  });
}
