// Postgres-bound writes: POST /refresh rotations/s and POST /sessions
// issuance/s, against pgbench's simple-update TPS with the same client count
// on its own scratch database, in the same run. A second baseline, the write
// floor (bench/servers/write-floor.ts), runs the service's own statements
// and signing on bare Fastify against the same database: the ceiling any
// service doing these writes on this stack could reach.
import type { BenchContext } from "./lib/context.js";
import { firstJsonLine, spawnNode, type Child } from "./lib/child.js";
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
export async function refreshJob(
  service: Instance,
  issuer: ServiceClientCredentials,
  connections: number,
  durationSec: number,
): Promise<LoadJob> {
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

/** A POST /sessions load (wrk) cycling through `subjects`. */
export function issueJob(
  service: Instance,
  issuer: ServiceClientCredentials,
  connections: number,
  durationSec: number,
  subjects: string[],
): LoadJob {
  return {
    url: service.url,
    method: "POST",
    path: "/sessions",
    connections,
    durationSec,
    headers: { "content-type": "application/json", authorization: issuer.basic },
    body: { kind: "issue", subjects, ip: BENCH_DEVICE.ip, userAgent: BENCH_DEVICE.userAgent },
    expect: '"refresh_token"',
    engine: "wrk",
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
    const floor = spawnNode(scope, "bench/servers/write-floor.ts", {
      label: "write floor",
      env: { DATABASE_URL: deployment.databaseUrl, ISSUER: deployment.issuer },
    });
    const floorUrl = `http://127.0.0.1:${(await firstJsonLine<{ port: number }>(floor, 30_000, "write floor")).port}`;
    // The floor rotates chains of its own and issues to users of its own, in the same database.
    let floorRefresh: LoadJob = { ...(await refreshJob(service, issuer, clients, ctx.durationSec)), engine: "wrk", url: floorUrl };
    const floorSubjects = await seedUsers(deployment.databaseUrl, ctx.quick ? 2_000 : ISSUE_SUBJECTS, "floor-issue");
    const issue = issueJob(service, issuer, clients, ctx.durationSec, subjects);
    const floorIssue: LoadJob = {
      ...issue,
      url: floorUrl,
      body: { kind: "issue", subjects: floorSubjects, ip: BENCH_DEVICE.ip, userAgent: BENCH_DEVICE.userAgent },
    };
    /** One load with the server's and Postgres' CPU per answer. */
    const measured = async (job: LoadJob, server: Child = service.child): Promise<Measured> => {
      const { result, pgUsPerOp } = await withPostgresCpu(
        () => runLoad(job, { sampleRssOf: server }),
        (r) => r.total,
      );
      return { ...result, pgUsPerOp };
    };
    // Each refresh run continues the chains the previous one left.
    const continued = (job: LoadJob, r: Measured): LoadJob =>
      r.remainingTokens && job.body.kind === "refresh-chain" ? { ...job, body: { ...job.body, tokens: r.remainingTokens } } : job;
    const refreshRun = async (durationSec: number) => {
      const r = await measured({ ...refresh, durationSec });
      refresh = continued(refresh, r);
      return r;
    };
    const floorRefreshRun = async (durationSec: number) => {
      const r = await measured({ ...floorRefresh, durationSec }, floor);
      floorRefresh = continued(floorRefresh, r);
      return r;
    };

    ctx.log(`refresh: warm-up ${ctx.warmupSec} s each`);
    await pgbenchSimpleUpdate(pgb.url, clients, ctx.warmupSec);
    await refreshRun(ctx.warmupSec);
    await floorRefreshRun(ctx.warmupSec);
    await runLoad({ ...issue, durationSec: ctx.warmupSec });
    await runLoad({ ...floorIssue, durationSec: ctx.warmupSec });

    const tps: number[] = [];
    const pgbenchPg: number[] = [];
    const refreshes: Measured[] = [];
    const issues: Measured[] = [];
    const floorRefreshes: Measured[] = [];
    const floorIssues: Measured[] = [];
    for (let i = 0; i < ctx.runs; i++) {
      ctx.log(`refresh: run ${i + 1}/${ctx.runs}`);
      const pgbench = await withPostgresCpu(
        () => pgbenchSimpleUpdate(pgb.url, clients, ctx.durationSec),
        (x) => x.transactions,
      );
      tps.push(pgbench.result.tps);
      if (pgbench.pgUsPerOp !== undefined) pgbenchPg.push(pgbench.pgUsPerOp);
      refreshes.push(await refreshRun(ctx.durationSec));
      floorRefreshes.push(await floorRefreshRun(ctx.durationSec));
      issues.push(await measured(issue));
      floorIssues.push(await measured(floorIssue, floor));
    }
    const base = median(tps);
    const rpsOf = (results: Measured[]) => median(results.map((r) => r.rps));
    const answered = (what: string, results: Measured[]) => {
      const failed = results.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts + r.bad, 0);
      if (failed > 0) ctx.log(`refresh: WARNING ${what} had ${failed} failed answers`);
      return `${fmt(rpsOf(results))}/s, p99 ${wholeMs(median(results.map((r) => r.p99)))} ms${failed > 0 ? ` (${failed} failed)` : ""}`;
    };
    // The refresh goal is stated against its write floor (issue 13); issuance keeps the pgbench one.
    const row = (what: string, results: Measured[], goal: number | null): Row => ({
      benchmark: `${what} (${clients} conn) vs pgbench simple-update TPS (${clients} clients)`,
      measured: answered(what, results),
      baseline: `${fmt(base)} TPS`,
      ratio: ratio(rpsOf(results), base),
      goal: goal === null ? "report (restated against the write floor below)" : `≥ ${goal.toFixed(2)}×`,
      met: goal === null ? null : rpsOf(results) / base >= goal,
    });
    // The floor against pgbench is the ceiling of the row above it; the service against the floor is its own overhead.
    const floorRows = (what: string, floorResults: Measured[], results: Measured[], goal: number | null): Row[] => [
      {
        benchmark: `${what} write floor: the service's statements and signing on bare Fastify (${clients} conn) vs pgbench`,
        measured: answered(`${what} floor`, floorResults),
        baseline: `${fmt(base)} TPS`,
        ratio: ratio(rpsOf(floorResults), base),
        goal: "report (the ceiling of the row above)",
        met: null,
      },
      {
        benchmark: `${what} service vs its write floor (${clients} conn)`,
        measured: `${fmt(rpsOf(results))}/s`,
        baseline: `${fmt(rpsOf(floorResults))}/s`,
        ratio: ratio(rpsOf(results), rpsOf(floorResults)),
        goal: goal === null ? "report" : `≥ ${goal.toFixed(2)}×`,
        met: goal === null ? null : rpsOf(results) / rpsOf(floorResults) >= goal,
      },
    ];
    // CPU time of the service process per answer: what a busy neighbour on two cores moves least.
    const us = (values: Array<number | undefined>) => median(values.map((v) => v ?? Number.NaN)).toFixed(0);
    return [
      row(`POST /refresh rotations/s, ${CHAINS} chains`, refreshes, null),
      ...floorRows("POST /refresh", floorRefreshes, refreshes, 0.75),
      row("POST /sessions issuance/s", issues, 0.4),
      ...floorRows("POST /sessions", floorIssues, issues, null),
      {
        benchmark: `CPU per answer, service process (${clients} conn)`,
        measured: `POST /refresh ${us(refreshes.map((r) => r.cpuUsPerRequest))} µs; POST /sessions ${us(issues.map((r) => r.cpuUsPerRequest))} µs`,
        // The machine's two cores also run the load generator (wrk) and Postgres.
        baseline: `write floor ${us(floorRefreshes.map((r) => r.cpuUsPerRequest))} / ${us(floorIssues.map((r) => r.cpuUsPerRequest))} µs; load generator ${us(refreshes.map((r) => r.loadGeneratorCpuUsPerRequest))} / ${us(issues.map((r) => r.loadGeneratorCpuUsPerRequest))} µs per request`,
        ratio: "—",
        goal: "report",
        met: null,
      },
      {
        // All postgres processes (backends, WAL writer, checkpointer, autovacuum), per answer or per pgbench transaction.
        benchmark: `Postgres CPU per write (${clients} conn)`,
        measured: `POST /refresh ${us(refreshes.map((r) => r.pgUsPerOp))} µs; POST /sessions ${us(issues.map((r) => r.pgUsPerOp))} µs`,
        baseline: `write floor ${us(floorRefreshes.map((r) => r.pgUsPerOp))} / ${us(floorIssues.map((r) => r.pgUsPerOp))} µs; pgbench ${us(pgbenchPg)} µs`,
        ratio: "—",
        goal: "report",
        met: null,
      },
    ];
  });
}
