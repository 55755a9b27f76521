// Postgres-bound writes: POST /refresh rotations/s and POST /sessions
// issuance/s, against pgbench's simple-update TPS with the same client count
// on its own scratch database, in the same run.
import type { BenchContext } from "./lib/context.js";
import { runLoad, type LoadJob, type LoadResult } from "./lib/load.js";
import { pgbenchInit, pgbenchSimpleUpdate } from "./lib/pgbench.js";
import { withPostgresCpu } from "./lib/postgres-cpu.js";
import { requireWrk } from "./lib/wrk.js";
import { scratchDatabase, seedUsers } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { BENCH_DEVICE, createDeployment, startInstance, type Instance, type ServiceClientCredentials } from "./lib/service.js";
import { fmt, median, ratio, wholeMs } from "./lib/stats.js";
import type { Row } from "./lib/table.js";

type Measured = LoadResult & { cpuUsPerRequest?: number; pgUsPerOp?: number };

/** Live refresh-token chains the refresh load rotates in turn (one session per user). */
export const CHAINS = 256;
/** Users POST /sessions cycles through: enough that no user reaches MAX_SESSIONS_PER_USER (no evictions). */
const ISSUE_SUBJECTS = 20_000;

/** A POST /refresh load over CHAINS fresh sessions of their own users. */
export async function refreshJob(service: Instance, issuer: ServiceClientCredentials, connections: number, durationSec: number): Promise<LoadJob> {
  const users = await seedUsers(service.deployment.databaseUrl, CHAINS, "chain");
  const sessions = await service.issueSessions(issuer, users);
  return {
    url: service.url,
    method: "POST",
    path: "/refresh",
    connections,
    durationSec,
    headers: { "content-type": "application/json" },
    body: { kind: "refresh-chain", tokens: sessions.map((s) => s.refresh_token), userAgent: BENCH_DEVICE.userAgent },
    expect: '"refresh_token"',
  };
}

export async function run(ctx: BenchContext): Promise<Row[]> {
  return withScope(async (scope) => {
    const clients = ctx.writeConnections;
    await requireWrk();
    ctx.log("refresh: pgbench -i -s 1 on a scratch database; starting the service");
    const pgb = await scratchDatabase(scope, "pgbench");
    await pgbenchInit(pgb.url, 1);

    const deployment = await createDeployment(scope, "refresh");
    const service = await startInstance(scope, deployment, "service");
    const issuer = await service.createClient(["sessions:issue"], "issuer");
    // wrk, a C load generator like pgbench's own client (bench/lib/wrk.ts).
    let refresh: LoadJob = { ...(await refreshJob(service, issuer, clients, ctx.durationSec)), engine: "wrk" };
    const subjects = await seedUsers(deployment.databaseUrl, ctx.quick ? 2_000 : ISSUE_SUBJECTS, "issue");
    const issue: LoadJob = {
      url: service.url,
      method: "POST",
      path: "/sessions",
      connections: clients,
      durationSec: ctx.durationSec,
      headers: { "content-type": "application/json", authorization: issuer.basic },
      body: { kind: "issue", subjects, ip: BENCH_DEVICE.ip, userAgent: BENCH_DEVICE.userAgent },
      expect: '"refresh_token"',
      engine: "wrk",
    };
    /** One load with the service's and Postgres' CPU per answer. */
    const measured = async (job: LoadJob): Promise<Measured> => {
      const { result, pgUsPerOp } = await withPostgresCpu(() => runLoad(job, { sampleRssOf: service.child }), (r) => r.total);
      return { ...result, pgUsPerOp };
    };
    // Each refresh run continues the chains the previous one left.
    const refreshRun = async (durationSec: number) => {
      const r = await measured({ ...refresh, durationSec });
      if (r.remainingTokens && refresh.body.kind === "refresh-chain") refresh = { ...refresh, body: { ...refresh.body, tokens: r.remainingTokens } };
      return r;
    };

    ctx.log(`refresh: warm-up ${ctx.warmupSec} s each`);
    await pgbenchSimpleUpdate(pgb.url, clients, ctx.warmupSec);
    await refreshRun(ctx.warmupSec);
    await runLoad({ ...issue, durationSec: ctx.warmupSec });

    const tps: number[] = [];
    const pgbenchPg: number[] = [];
    const refreshes: Measured[] = [];
    const issues: Measured[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      ctx.log(`refresh: run ${i + 1}/${ctx.runs}`);
      const pgbench = await withPostgresCpu(() => pgbenchSimpleUpdate(pgb.url, clients, ctx.durationSec), (x) => x.transactions);
      tps.push(pgbench.result.tps);
      if (pgbench.pgUsPerOp !== undefined) pgbenchPg.push(pgbench.pgUsPerOp);
      refreshes.push(await refreshRun(ctx.durationSec));
      issues.push(await measured(issue));
    }
    const base = median(tps);
    const row = (what: string, results: Measured[]): Row => {
      const rps = median(results.map((r) => r.rps));
      const failed = results.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts + r.bad, 0);
      if (failed > 0) ctx.log(`refresh: WARNING ${what} had ${failed} failed answers`);
      return {
        benchmark: `${what} (${clients} conn) vs pgbench simple-update TPS (${clients} clients)`,
        measured: `${fmt(rps)}/s, p99 ${wholeMs(median(results.map((r) => r.p99)))} ms${failed > 0 ? ` (${failed} failed)` : ""}`,
        baseline: `${fmt(base)} TPS`,
        ratio: ratio(rps, base),
        goal: "≥ 0.40×",
        met: rps / base >= 0.4,
      };
    };
    // CPU time of the service process per answer: what a busy neighbour on two cores moves least.
    const us = (values: Array<number | undefined>) => median(values.map((v) => v ?? Number.NaN)).toFixed(0);
    return [
      row(`POST /refresh rotations/s, ${CHAINS} chains`, refreshes),
      row("POST /sessions issuance/s", issues),
      {
        benchmark: `CPU per answer, service process (${clients} conn)`,
        measured: `POST /refresh ${us(refreshes.map((r) => r.cpuUsPerRequest))} µs; POST /sessions ${us(issues.map((r) => r.cpuUsPerRequest))} µs`,
        // The machine's two cores also run the load generator (wrk) and Postgres.
        baseline: `load generator ${us(refreshes.map((r) => r.loadGeneratorCpuUsPerRequest))} / ${us(issues.map((r) => r.loadGeneratorCpuUsPerRequest))} µs per request`,
        ratio: "—",
        goal: "report",
        met: null,
      },
      {
        // All postgres processes (backends, WAL writer, checkpointer, autovacuum), per answer or per pgbench transaction.
        benchmark: `Postgres CPU per write (${clients} conn)`,
        measured: `POST /refresh ${us(refreshes.map((r) => r.pgUsPerOp))} µs; POST /sessions ${us(issues.map((r) => r.pgUsPerOp))} µs`,
        baseline: `pgbench ${us(pgbenchPg)} µs`,
        ratio: "—",
        goal: "report",
        met: null,
      },
    ];
  });
}
