// POST /introspect under HTTP load from another process, against a bare
// Fastify hello-world and node-oidc-provider's introspection endpoint,
// measured in the same run with the same load generator. A third baseline,
// the form floor, answers the service's own requests with bare Fastify and
// a fixed answer: what any form-encoded POST costs before any work. Beside
// it, GET /forward-auth over the same tokens: the gateways' question.
import type { BenchContext } from "./lib/context.js";
import { firstJsonLine, freePort, spawnNode } from "./lib/child.js";
import { basicAuth, mapLimit, postForm } from "./lib/http.js";
import { runLoad, type LoadJob, type LoadResult } from "./lib/load.js";
import { seedUsers } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { createDeployment, startInstance, type Instance } from "./lib/service.js";
import { fmt, median, mib, ratio, wholeMs } from "./lib/stats.js";
import type { Row } from "./lib/table.js";

/** Distinct live access tokens the load cycles through. */
export const TOKEN_POOL = 300;
const SESSIONS_PER_USER = 3;

/** A POST /introspect load over TOKEN_POOL live access tokens of fresh sessions (form-encoded, HTTP Basic). */
export async function introspectJob(service: Instance, connections: number, durationSec: number): Promise<LoadJob> {
  const users = await seedUsers(service.deployment.databaseUrl, TOKEN_POOL / SESSIONS_PER_USER, "introspect");
  const issuer = await service.createClient(["sessions:issue"], "issuer");
  const introspector = await service.createClient(["introspect"], "introspector");
  const sessions = await service.issueSessions(
    issuer,
    users.flatMap((u) => Array.from({ length: SESSIONS_PER_USER }, () => u)),
  );
  return {
    url: service.url,
    method: "POST",
    path: "/introspect",
    connections,
    durationSec,
    headers: { authorization: introspector.basic, "content-type": "application/x-www-form-urlencoded" },
    body: { kind: "introspect-form", tokens: sessions.map((s) => s.access_token) },
    expect: '"active":true',
  };
}

export async function run(ctx: BenchContext): Promise<Row[]> {
  return withScope(async (scope) => {
    ctx.log("introspect: starting the service (Postgres + Redis) and the baselines");
    const deployment = await createDeployment(scope, "introspect");
    const service = await startInstance(scope, deployment, "service");
    const hello = spawnNode(scope, "bench/servers/hello.ts", { label: "fastify hello-world" });
    const helloPort = (await firstJsonLine<{ port: number }>(hello, 30_000, "hello-world")).port;
    const floor = spawnNode(scope, "bench/servers/form-floor.ts", { label: "fastify form floor" });
    const floorPort = (await firstJsonLine<{ port: number }>(floor, 30_000, "form floor")).port;

    const oidcPort = await freePort();
    const oidcSecret = "bench-oidc-secret-0123456789abcdef";
    const oidc = spawnNode(scope, "bench/servers/oidc-provider.ts", {
      label: "oidc-provider",
      env: { PORT: String(oidcPort), OIDC_CLIENT_ID: "bench", OIDC_CLIENT_SECRET: oidcSecret },
    });
    await firstJsonLine(oidc, 30_000, "oidc-provider");
    const oidcUrl = `http://127.0.0.1:${oidcPort}`;
    const oidcBasic = basicAuth("bench", oidcSecret);
    const oidcTokens = await mapLimit(Array.from({ length: TOKEN_POOL }), 4, async () => {
      const r = await postForm(`${oidcUrl}/token`, { grant_type: "client_credentials" }, { authorization: oidcBasic });
      const token = (r.body as { access_token?: string } | null)?.access_token;
      if (r.status !== 200 || !token) throw new Error(`oidc-provider token endpoint: ${r.status} ${JSON.stringify(r.body)}`);
      return token;
    });

    // Every target gets the same load generator, connection count and duration.
    const base = { connections: ctx.connections, durationSec: ctx.durationSec, method: "POST" as const };
    const jobs = {
      hello: {
        ...base,
        method: "GET" as const,
        url: `http://127.0.0.1:${helloPort}`,
        path: "/",
        headers: {},
        body: { kind: "none" as const },
        expect: "world",
      },
      oidc: {
        ...base,
        url: oidcUrl,
        path: "/token/introspection",
        headers: { authorization: oidcBasic, "content-type": "application/x-www-form-urlencoded" },
        body: { kind: "introspect-form" as const, tokens: oidcTokens },
        expect: '"active":true',
      },
      service: await introspectJob(service, ctx.connections, ctx.durationSec),
    } satisfies Record<string, LoadJob>;
    // The service's requests, byte for byte, to the form floor.
    const floorJob: LoadJob = { ...jobs.service, url: `http://127.0.0.1:${floorPort}` };
    // The gateways' question over the same live tokens: no body, no client to authenticate.
    const tokens = (jobs.service.body as { tokens: string[] }).tokens;
    const forwardJob: LoadJob = {
      ...base,
      method: "GET",
      url: service.url,
      path: "/forward-auth",
      headers: {},
      body: { kind: "bearer-header", tokens },
    };

    const idleRss = await service.child.rss();
    ctx.log(`introspect: warm-up ${ctx.warmupSec} s per target`);
    for (const job of [...Object.values(jobs), floorJob, forwardJob]) await runLoad({ ...job, durationSec: ctx.warmupSec });

    // Interleaved runs, so a slow spell of the machine hits every target alike.
    type Target = keyof typeof jobs | "floor" | "forward";
    const results: Record<Target, Array<LoadResult & { peakRss?: number; cpuUsPerRequest?: number }>> = {
      hello: [],
      oidc: [],
      service: [],
      floor: [],
      forward: [],
    };
    for (let i = 0; i < ctx.runs; i++) {
      ctx.log(`introspect: run ${i + 1}/${ctx.runs}`);
      results.hello.push(await runLoad(jobs.hello, { sampleRssOf: hello }));
      results.floor.push(await runLoad(floorJob, { sampleRssOf: floor }));
      results.oidc.push(await runLoad(jobs.oidc, { sampleRssOf: oidc }));
      results.service.push(await runLoad(jobs.service, { sampleRssOf: service.child }));
      results.forward.push(await runLoad(forwardJob, { sampleRssOf: service.child }));
    }
    const med = (k: Target, f: "rps" | "p50" | "p99") => median(results[k].map((r) => r[f]));
    const failures = (k: Target) => results[k].reduce((n, r) => n + r.non2xx + r.errors + r.timeouts + r.bad, 0);
    for (const k of Object.keys(results) as Target[]) {
      if (failures(k) > 0) ctx.log(`introspect: WARNING ${k} had ${failures(k)} failed or unexpected answers`);
    }
    const svc = med("service", "rps");
    const hw = med("hello", "rps");
    const op = med("oidc", "rps");
    const fl = med("floor", "rps");
    const p99 = med("service", "p99");
    const peakRss = Math.max(...results.service.map((r) => r.peakRss ?? 0));
    const cpu = (k: Target) => median(results[k].map((r) => r.cpuUsPerRequest ?? Number.NaN));
    const lg = (k: Target) => median(results[k].map((r) => r.loadGeneratorCpuUsPerRequest)).toFixed(0);
    const note = failures("service") > 0 ? ` (${failures("service")} failed)` : "";
    const load = `${ctx.connections} conn, ${TOKEN_POOL} live tokens`;
    return [
      {
        benchmark: `POST /introspect req/s vs bare Fastify hello-world (${load})`,
        measured: `${fmt(svc)} req/s${note}`,
        baseline: `${fmt(hw)} req/s`,
        ratio: ratio(svc, hw),
        goal: "report (restated against the form floor below)",
        met: null,
      },
      {
        benchmark: `POST /introspect req/s vs oidc-provider introspection (${load})`,
        measured: `${fmt(svc)} req/s${note}`,
        baseline: `${fmt(op)} req/s${failures("oidc") > 0 ? ` (${failures("oidc")} failed)` : ""}`,
        ratio: ratio(svc, op),
        goal: "≥ 3×",
        met: svc / op >= 3,
      },
      {
        // The ceiling of the first row: no POST route on Fastify answers faster than this floor.
        benchmark: `bare Fastify form POST, the service's requests with a fixed answer, vs hello-world (${load})`,
        measured: `${fmt(fl)} req/s${failures("floor") > 0 ? ` (${failures("floor")} failed)` : ""}`,
        baseline: `${fmt(hw)} req/s`,
        ratio: ratio(fl, hw),
        goal: "report (the first row's ceiling)",
        met: null,
      },
      {
        benchmark: `POST /introspect req/s vs the bare Fastify form POST (${load})`,
        measured: `${fmt(svc)} req/s${note}`,
        baseline: `${fmt(fl)} req/s`,
        ratio: ratio(svc, fl),
        goal: "≥ 0.50×",
        met: svc / fl >= 0.5,
      },
      {
        benchmark: `POST /introspect latency p50 / p99 (${ctx.connections} conn, closed loop)`,
        measured: `${wholeMs(med("service", "p50"))} / ${wholeMs(p99)} ms`,
        baseline: `hello ${wholeMs(med("hello", "p50"))} / ${wholeMs(med("hello", "p99"))} ms; oidc-provider ${wholeMs(med("oidc", "p50"))} / ${wholeMs(med("oidc", "p99"))} ms`,
        ratio: "—",
        goal: "p99 < 5 ms",
        met: p99 < 5,
      },
      {
        benchmark: `GET /forward-auth req/s vs POST /introspect (${load})`,
        measured: `${fmt(med("forward", "rps"))} req/s${failures("forward") > 0 ? ` (${failures("forward")} failed)` : ""}`,
        baseline: `${fmt(svc)} req/s`,
        ratio: ratio(med("forward", "rps"), svc),
        goal: "≥ 1.0×",
        met: med("forward", "rps") / svc >= 1,
      },
      {
        benchmark: `GET /forward-auth latency p50 / p99; CPU per answer (${ctx.connections} conn, closed loop)`,
        measured: `${wholeMs(med("forward", "p50"))} / ${wholeMs(med("forward", "p99"))} ms; ${cpu("forward").toFixed(0)} µs`,
        baseline: `introspect ${wholeMs(med("service", "p50"))} / ${wholeMs(p99)} ms; ${cpu("service").toFixed(0)} µs`,
        ratio: `${(cpu("forward") / cpu("service")).toFixed(2)}× introspection's CPU`,
        goal: "p99 < 5 ms",
        met: med("forward", "p99") < 5,
      },
      {
        // CPU time of the server process per answer: what a second core or a busy neighbour moves least.
        benchmark: `CPU per answer, server process (${load})`,
        measured: `service ${cpu("service").toFixed(0)} µs`,
        baseline: `hello-world ${cpu("hello").toFixed(0)} µs; form floor ${cpu("floor").toFixed(0)} µs; oidc-provider ${cpu("oidc").toFixed(0)} µs (load generator ${lg("service")} / ${lg("hello")} / ${lg("floor")} / ${lg("oidc")} µs per request)`,
        ratio: `${(cpu("service") / cpu("hello")).toFixed(2)}× hello's; ${(cpu("service") / cpu("oidc")).toFixed(2)}× oidc-provider's`,
        goal: "report",
        met: null,
      },
      {
        benchmark: "service RSS under introspection load (peak)",
        measured: mib(peakRss),
        baseline: `${mib(idleRss)} idle before load`,
        ratio: ratio(peakRss, idleRss),
        goal: "report",
        met: null,
      },
    ];
  });
}
