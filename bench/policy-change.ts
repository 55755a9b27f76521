// A policy change applied at once (SPEC §10) on a large application:
// 100 000 live sessions of X (plus Y's), seeded with generate_series, then
// one PATCH that ends and shortens many of them. Measured: the change's wall
// time (and its dry run's), and the latency of Y's issuances and refreshes
// while it runs against the same load without it. The load is a closed loop
// of fetch calls in this process (the service runs in its own processes).
import type { BenchContext } from "./lib/context.js";
import { HttpError, postJson } from "./lib/http.js";
import { withClient } from "./lib/postgres.js";
import { withScope } from "./lib/scope.js";
import { BENCH_DEVICE, createDeployment, startInstance, type Instance, type IssuedSession } from "./lib/service.js";
import { fmt, percentile } from "./lib/stats.js";
import type { Row } from "./lib/table.js";

const POLICY = { access_token_ttl: "5m", refresh_token_ttl: "1d", session_max_lifetime: "7d", max_sessions_per_user: 3 };
const LOAD_WORKERS = 8;

/** X: `sessions` live sessions of `users` users, created over the last 10 days, last seen since; one refresh token each. */
async function seed(url: string, app: string, users: number, sessions: number): Promise<void> {
  await withClient(url, async (c) => {
    await c.query(
      `INSERT INTO users (id, username, username_key, password_hash)
       SELECT md5($1 || '-user-' || i)::uuid, $1 || '_u' || i, $1 || '_u' || i, 'not-a-password-hash'
       FROM generate_series(0, $2::int - 1) AS i`,
      [app, users],
    );
    await c.query(
      `INSERT INTO sessions (id, user_id, client_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at,
                             access_expires_at, last_ip, user_agent, ua_browser, ua_os, ua_device)
       SELECT md5($1 || '-s-' || s)::uuid, md5($1 || '-user-' || (s % $2::int))::uuid, $1, 'bearer', created, seen,
              LEAST(seen + interval '7 days', created + interval '30 days'), created + interval '30 days',
              LEAST(seen + interval '10 minutes', created + interval '30 days'), '127.0.0.1', $4, 'Chrome', 'Linux', 'desktop'
       FROM (SELECT s, now() - (s % 864000) * interval '1 second' AS created FROM generate_series(1, $3::int) AS s) AS g,
            LATERAL (SELECT created + (now() - created) * ((s * 7919) % 1000) / 1000.0 AS seen) AS l`,
      [app, users, sessions, BENCH_DEVICE.userAgent],
    );
    await c.query(
      `INSERT INTO refresh_tokens (id, session_id, token_hash, created_at, expires_at)
       SELECT md5($1 || '-rt-' || s.id)::uuid, s.id, sha256(convert_to($1 || '-rt-' || s.id, 'UTF8')), s.last_seen_at, s.idle_expires_at
       FROM sessions s WHERE s.client_id = $1`,
      [app],
    );
    await c.query("VACUUM ANALYZE users, sessions, refresh_tokens");
  });
}

interface Sample {
  kind: "issue" | "refresh";
  start: number;
  end: number;
  status: number;
}

/** A closed loop on Y until `stop()`: each worker alternates an issuance and a refresh of its own chain. */
function loadOn(instance: Instance, basic: string, subjects: string[], chains: IssuedSession[]) {
  const samples: Sample[] = [];
  let running = true;
  const call = async (kind: Sample["kind"], path: string, body: unknown) => {
    const start = performance.now();
    const res = await fetch(`${instance.url}${path}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(kind === "issue" ? { authorization: basic } : {}) },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    samples.push({ kind, start, end: performance.now(), status: res.status });
    return res.ok ? (JSON.parse(text) as IssuedSession) : null;
  };
  const workers = Array.from({ length: LOAD_WORKERS }, async (_, w) => {
    let n = 0;
    while (running) {
      const subject = subjects[(n++ * LOAD_WORKERS + w) % subjects.length]!;
      await call("issue", "/sessions", { subject, client_id: "y", transport: "bearer", ...BENCH_DEVICE_BODY });
      const next = await call("refresh", "/refresh", { refresh_token: chains[w]!.refresh_token });
      if (next) chains[w] = next;
    }
  });
  return {
    samples,
    async stop() {
      running = false;
      await Promise.all(workers);
    },
  };
}

const BENCH_DEVICE_BODY = { ip: BENCH_DEVICE.ip, user_agent: BENCH_DEVICE.userAgent };
const ms = (n: number) => `${fmt(n)} ms`;

export async function run(ctx: BenchContext): Promise<Row[]> {
  const sessions = ctx.quick ? 20_000 : 100_000;
  return withScope(async (scope) => {
    const deployment = await createDeployment(scope, "policy_change");
    const a = await startInstance(scope, deployment, "service A (the change)");
    const b = await startInstance(scope, deployment, "service B (Y's load)");
    const admin = { authorization: deployment.admin.basic };
    for (const id of ["x", "y"]) await postJson(`${a.url}/admin/applications`, { id, name: id }, admin);
    ctx.log(`policy-change: seeding ${sessions.toLocaleString("en-US")} sessions of x and 5 000 of y`);
    await seed(deployment.databaseUrl, "x", Math.floor(sessions / 5), sessions);
    await seed(deployment.databaseUrl, "y", 1000, 5000);
    const client = await b.createClient(["sessions:issue"], "policy-change bench");
    const ySubjects = await withClient(deployment.databaseUrl, async (c) =>
      (await c.query<{ id: string }>("SELECT id FROM users WHERE username LIKE 'y\\_u%' ORDER BY id LIMIT 1000")).rows.map((r) => r.id),
    );
    const yChains = await Promise.all(
      ySubjects
        .slice(0, LOAD_WORKERS)
        .map((_, i) =>
          postJson<IssuedSession>(
            `${b.url}/sessions`,
            { subject: ySubjects[i]!, client_id: "y", transport: "bearer", ...BENCH_DEVICE_BODY },
            { authorization: client.basic },
          ),
        ),
    );

    ctx.log("policy-change: dry run");
    const dryStart = performance.now();
    const dry = await postJson<{ sessions_ended: number; sessions_shortened: number; users_over_limit: number }>(
      `${a.url}/admin/applications/x/policy/dry-run`,
      { policy: POLICY },
      admin,
    );
    const dryMs = performance.now() - dryStart;

    ctx.log(`policy-change: Y's load alone, ${ctx.durationSec} s`);
    const quiet = loadOn(b, client.basic, ySubjects, yChains);
    await new Promise((r) => setTimeout(r, ctx.durationSec * 1000));
    await quiet.stop();

    ctx.log("policy-change: Y's load while the change runs");
    const busy = loadOn(b, client.basic, ySubjects, yChains);
    await new Promise((r) => setTimeout(r, 1000));
    const changeStart = performance.now();
    const res = await fetch(`${a.url}/admin/applications/x`, {
      method: "PATCH",
      headers: { "content-type": "application/json", ...admin },
      body: JSON.stringify({ policy: POLICY }),
    });
    const text = await res.text();
    if (!res.ok) throw new HttpError(res.status, text, "PATCH /admin/applications/x");
    const effect = (JSON.parse(text) as { policy_effect: typeof dry }).policy_effect;
    const changeEnd = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    await busy.stop();

    const during = busy.samples.filter((s) => s.end > changeStart && s.start < changeEnd);
    const errors = [...quiet.samples, ...busy.samples].filter((s) => s.status !== 200).length;
    const lat = (xs: Sample[], kind: Sample["kind"]) => xs.filter((s) => s.kind === kind).map((s) => s.end - s.start);
    const rows: Row[] = [
      {
        benchmark: `policy change on ${sessions.toLocaleString("en-US")} live sessions: wall time (PATCH answered)`,
        measured: ms(changeEnd - changeStart),
        baseline: `dry run ${ms(dryMs)}`,
        ratio: `${Math.ceil(sessions / 5000)} batches of ~5000: ~${ms((changeEnd - changeStart) / Math.ceil(sessions / 5000))} each`,
        goal: "a batch < 5 s (lock_timeout)",
        met: (changeEnd - changeStart) / Math.ceil(sessions / 5000) < 5000,
      },
      {
        benchmark: "policy change: sessions ended / shortened / users over limit",
        measured: `${effect.sessions_ended} / ${effect.sessions_shortened} / ${effect.users_over_limit}`,
        baseline: `dry run ${dry.sessions_ended} / ${dry.sessions_shortened} / ${dry.users_over_limit}`,
        ratio: "",
        goal: "equal",
        met:
          effect.sessions_ended === dry.sessions_ended &&
          effect.sessions_shortened === dry.sessions_shortened &&
          effect.users_over_limit === dry.users_over_limit,
      },
    ];
    for (const kind of ["issue", "refresh"] as const) {
      const q = lat(quiet.samples, kind);
      const d = lat(during, kind);
      rows.push({
        benchmark: `other application's ${kind === "issue" ? "POST /sessions" : "POST /refresh"} during the change: p50 / p99 (n)`,
        measured: d.length ? `${ms(percentile(d, 50))} / ${ms(percentile(d, 99))} (${d.length})` : "none completed",
        baseline: `without: ${ms(percentile(q, 50))} / ${ms(percentile(q, 99))} (${q.length})`,
        ratio: d.length ? `p99 ${fmt(percentile(d, 99) / percentile(q, 99))}×` : "",
        goal: "not blocked",
        met: d.length > 0,
      });
    }
    rows.push({
      benchmark: "policy change: non-200 answers of the other application",
      measured: String(errors),
      baseline: "",
      ratio: "",
      goal: "0",
      met: errors === 0,
    });
    return rows;
  });
}
