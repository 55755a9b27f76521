// Soak: minutes of mixed load (introspections, refresh rotations, issuance
// and logouts) against one instance on Postgres + Redis, sampling the
// service's RSS and its Postgres connections after every round. Flat means:
// after the first round (warm-up), RSS grows by less than 10 % and the
// connection count by none. Not part of the default run: `--only soak`
// (10 minutes; `--quick`: 1 minute; SOAK_MINUTES overrides).
import { introspectJob } from "./introspect.js";
import type { BenchContext } from "./lib/context.js";
import { basicAuth, mapLimit, postJson } from "./lib/http.js";
import { runLoad } from "./lib/load.js";
import { seedUsers, withClient } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { createDeployment, startInstance, type IssuedSession } from "./lib/service.js";
import { fmt, mib } from "./lib/stats.js";
import type { Row } from "./lib/table.js";
import { refreshJob } from "./refresh.js";

export async function run(ctx: BenchContext): Promise<Row[]> {
  const minutes = Number(process.env.SOAK_MINUTES ?? (ctx.quick ? 1 : 10));
  return withScope(async (scope) => {
    const deployment = await createDeployment(scope, "soak");
    const service = await startInstance(scope, deployment, "service (soak)");
    const issuer = await service.createClient(["sessions:issue"], "issuer");
    const revoker = await service.createClient(["revoke"], "revoker");
    const introspect = await introspectJob(service, 16, 10);
    let refresh = await refreshJob(service, issuer, 4, 10);
    const churnUsers = await seedUsers(deployment.databaseUrl, 50, "churn");
    const connections = () =>
      withClient(deployment.databaseUrl, async (c) => {
        const r = await c.query<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [deployment.databaseName],
        );
        return Number(r.rows[0]!.n);
      });

    const samples: Array<{ rss: number; conns: number; introspections: number; refreshes: number; churn: number }> = [];
    const until = Date.now() + minutes * 60_000;
    for (let round = 1; Date.now() < until; round++) {
      const i = await runLoad(introspect);
      const r = await runLoad(refresh);
      if (r.remainingTokens && refresh.body.kind === "refresh-chain")
        refresh = { ...refresh, body: { ...refresh.body, tokens: r.remainingTokens } };
      // Churn: sessions issued and revoked again (RFC 7009), so the mirror and the outbox see traffic.
      const issued: IssuedSession[] = await service.issueSessions(issuer, churnUsers);
      await mapLimit(issued, 8, (s) =>
        postJson(`${service.url}/revoke`, { token: s.refresh_token }, { authorization: basicAuth(revoker.id, revoker.secret) }).catch(
          () => null,
        ),
      );
      samples.push({
        rss: await service.child.rss(),
        conns: await connections(),
        introspections: i.total,
        refreshes: r.total,
        churn: issued.length,
      });
      ctx.log(
        `soak: round ${round}: rss ${mib(samples.at(-1)!.rss)}, ${samples.at(-1)!.conns} pg connections, ${fmt(i.rps)} introspections/s, ${fmt(r.rps)} refreshes/s`,
      );
    }
    const base = samples[0]!;
    const rest = samples.slice(1);
    const peakRss = Math.max(...rest.map((s) => s.rss), base.rss);
    const lastRss = samples.at(-1)!.rss;
    const maxConns = Math.max(...samples.map((s) => s.conns));
    const total = samples.reduce((a, s) => ({ i: a.i + s.introspections, r: a.r + s.refreshes, c: a.c + s.churn }), { i: 0, r: 0, c: 0 });
    const rssFlat = rest.length > 0 && lastRss <= base.rss * 1.1;
    return [
      {
        benchmark: `soak, ${minutes} min mixed load (${fmt(total.i)} introspections, ${fmt(total.r)} refreshes, ${fmt(total.c)} sessions issued and revoked, ${samples.length} rounds): service RSS`,
        measured: `${mib(lastRss)} at the end (peak ${mib(peakRss)})`,
        baseline: `${mib(base.rss)} after round 1`,
        ratio: `${(lastRss / base.rss).toFixed(2)}×`,
        goal: "flat (≤ 1.10×)",
        met: rssFlat,
      },
      {
        benchmark: "soak: Postgres connections of the service",
        measured: `max ${maxConns}, last ${samples.at(-1)!.conns}`,
        baseline: `${base.conns} after round 1`,
        ratio: "—",
        goal: "flat (never above round 1's pool)",
        met: maxConns <= Math.max(base.conns, 10),
      },
    ];
  });
}
