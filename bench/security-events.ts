// What SPEC §14 costs the write paths: POST /refresh and POST /sessions
// (issuance: the login's write path without argon2, which would drown the
// difference) on one deployment, in the same run, in three states:
//   off     – the chainer held off (the bench holds its advisory lock) and
//             the webhook trigger disabled: the writes as they were before;
//   trigger – the webhook trigger on (no subscriber), the chainer still held off;
//   chain   – the chainer linking every 250 ms, the trigger on, no subscriber;
//   outbox  – as chain, plus a subscriber to session.created (a delivery row
//             per issuance, sent by the worker to a local receiver).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import { advisoryLockKey } from "../src/storage/database.js";
import type { BenchContext } from "./lib/context.js";
import { runLoad, type LoadJob, type LoadResult } from "./lib/load.js";
import { postJson } from "./lib/http.js";
import { seedUsers } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { BENCH_DEVICE, createDeployment, startInstance } from "./lib/service.js";
import { requireWrk } from "./lib/wrk.js";
import { issueJob, refreshJob } from "./refresh.js";
import { fmt, median, ratio, wholeMs } from "./lib/stats.js";
import type { Row } from "./lib/table.js";

type State = "off" | "trigger" | "chain" | "outbox";

const LABELS: Record<Exclude<State, "off">, string> = {
  trigger: "webhook trigger only (no subscriber, chain held off)",
  chain: "audit chain + webhook trigger, no subscriber",
  outbox: "chain + a session.created subscriber (outbox row, worker sending)",
};

export async function run(ctx: BenchContext): Promise<Row[]> {
  return withScope(async (scope) => {
    await requireWrk();
    const clients = ctx.writeConnections;
    const deployment = await createDeployment(scope, "security");
    const service = await startInstance(scope, deployment, "service");
    const issuer = await service.createClient(["sessions:issue"], "issuer");
    let refresh: LoadJob = { ...(await refreshJob(service, issuer, clients, ctx.durationSec)), engine: "wrk" };
    // Each issuance load gets users of its own: sessions per user (and evictions) must not grow over the run.
    const SLICE = ctx.quick ? 3_000 : 6_000;
    const subjects = await seedUsers(deployment.databaseUrl, SLICE * (4 + 4 * ctx.runs), "issue");
    let nextSlice = 0;
    const freshSubjects = () => subjects.slice(SLICE * nextSlice, SLICE * ++nextSlice);
    const issue = issueJob(service, issuer, clients, ctx.durationSec, subjects);

    const receiver = createServer((req, res) => req.resume().on("end", () => res.writeHead(204).end()));
    await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
    scope.defer("webhook receiver", () => new Promise((r) => receiver.close(r)));
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

    const sql = new pg.Client({ connectionString: deployment.databaseUrl });
    await sql.connect();
    scope.defer("bench connection", () => sql.end());
    const lockKey = advisoryLockKey("audit-chain").toString();
    let subscription: string | null = null;
    const enter = async (state: State) => {
      if (state === "off" || state === "trigger") await sql.query("SELECT pg_advisory_lock($1::bigint)", [lockKey]);
      await sql.query(`ALTER TABLE audit_events ${state === "off" ? "DISABLE" : "ENABLE"} TRIGGER audit_events_enqueue_webhooks`);
      if (state === "outbox" && subscription === null) {
        const r = await postJson<{ id: string }>(
          `${service.url}/admin/webhooks`,
          { url: hookUrl, events: ["session.created"] },
          { authorization: deployment.admin.basic },
        );
        subscription = r.id;
      }
      // Kept (its deliveries too), but listening to an event the load never causes outside the outbox state.
      if (subscription !== null) {
        await sql.query("UPDATE webhook_subscriptions SET events = $1", [
          state === "outbox" ? ["session.created"] : ["user.claims_changed"],
        ]);
      }
    };
    const leave = async (state: State) => {
      if (state === "off" || state === "trigger") await sql.query("SELECT pg_advisory_unlock($1::bigint)", [lockKey]);
      // Start the next state with nothing left to link (GET /admin/audit links what is pending first).
      await fetch(`${service.url}/admin/audit?limit=1`, { headers: { authorization: deployment.admin.basic } });
    };
    const unlinked = async () => Number((await sql.query("SELECT count(*) AS n FROM audit_events WHERE seq IS NULL")).rows[0].n);

    const results: Record<State, { refresh: LoadResult[]; issue: LoadResult[]; backlog: number[] }> = {
      off: { refresh: [], issue: [], backlog: [] },
      trigger: { refresh: [], issue: [], backlog: [] },
      chain: { refresh: [], issue: [], backlog: [] },
      outbox: { refresh: [], issue: [], backlog: [] },
    };
    const once = async (state: State, durationSec: number, record: boolean) => {
      await enter(state);
      const r = await runLoad({ ...refresh, durationSec });
      if (r.remainingTokens && refresh.body.kind === "refresh-chain")
        refresh = { ...refresh, body: { ...refresh.body, tokens: r.remainingTokens } };
      const i = await runLoad({
        ...issue,
        durationSec,
        body: { kind: "issue", subjects: freshSubjects(), ip: BENCH_DEVICE.ip, userAgent: BENCH_DEVICE.userAgent },
      });
      const backlog = await unlinked();
      await leave(state);
      if (record) {
        results[state].refresh.push(r);
        results[state].issue.push(i);
        results[state].backlog.push(backlog);
      }
    };
    const states: State[] = ["off", "trigger", "chain", "outbox"];
    ctx.log(`security-events: warm-up ${ctx.warmupSec} s per state`);
    for (const s of states) await once(s, ctx.warmupSec, false);
    for (let k = 0; k < ctx.runs; k++) {
      ctx.log(`security-events: run ${k + 1}/${ctx.runs}`);
      // A different order each round, so no state always runs on the warmest (or most loaded) database.
      for (let j = 0; j < states.length; j++) await once(states[(j + k) % states.length]!, ctx.durationSec, true);
    }
    const deliveries = (await sql.query("SELECT status, count(*)::int AS n FROM webhook_deliveries GROUP BY status")).rows as Array<{
      status: string;
      n: number;
    }>;
    const outboxIssued = results.outbox.issue.reduce((n, r) => n + r.total, 0);

    const rps = (rs: LoadResult[]) => median(rs.map((r) => r.rps));
    const failed = (rs: LoadResult[]) => rs.reduce((n, r) => n + r.non2xx + r.errors + r.timeouts + r.bad, 0);
    const cell = (rs: LoadResult[], backlog: number[]) =>
      `${fmt(rps(rs))}/s, p99 ${wholeMs(median(rs.map((r) => r.p99)))} ms${failed(rs) ? ` (${failed(rs)} failed)` : ""}; unlinked at the end ${median(backlog)}`;
    const row = (what: string, state: Exclude<State, "off">, pick: "refresh" | "issue"): Row => ({
      benchmark: `${what} (${clients} conn): ${LABELS[state]} vs both off`,
      measured: cell(results[state][pick], results[state].backlog),
      baseline: `${fmt(rps(results.off[pick]))}/s`,
      ratio: ratio(rps(results[state][pick]), rps(results.off[pick])),
      goal: "report",
      met: null,
    });
    return [
      row("POST /refresh", "trigger", "refresh"),
      row("POST /sessions", "trigger", "issue"),
      row("POST /refresh", "chain", "refresh"),
      row("POST /sessions", "chain", "issue"),
      row("POST /sessions", "outbox", "issue"),
      row("POST /refresh", "outbox", "refresh"),
      {
        benchmark: "webhook deliveries by status at the end (the outbox state's issuances, warm-up included)",
        measured: deliveries.map((d) => `${d.status} ${d.n}`).join(", ") || "none",
        baseline: `${outboxIssued} issuances measured`,
        ratio: "—",
        goal: "report",
        met: null,
      },
    ];
  });
}
