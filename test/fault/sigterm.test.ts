// A deployment stops instances with SIGTERM while they serve (a rollout, a
// scale-in). The real server, as a child process, under a burst of logins
// (each pays a full-strength argon2id hash, so they are slow enough to be
// caught in flight): what was accepted finishes with its normal answer, new
// connections are refused (or answered 503), and the process exits 0.
import t from "tap";
import type { Mode } from "../fixtures/app.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";
import { GENEROUS_LIMITS, isDocumented503, orNullAfter } from "../fixtures/fault-support.js";
import { rawRequest, startServer, type RawAnswer } from "../fixtures/fault-server.js";
import { basicAuth } from "../fixtures/service-client.js";

const BURST = 24;
const ADMIN = { id: "fault-admin", secret: "fault-admin-secret-0123456789" };
const EXIT_BOUND_MS = 30_000;

async function storageEnv(t: Parameters<typeof freshPostgres>[0], mode: Mode): Promise<Record<string, string>> {
  if (mode === "postgres") {
    const { url, db } = await freshPostgres(t);
    await db.close();
    return { DATABASE_URL: url, KEY_ENCRYPTION_KEY: "test-key-encryption-key-0123456789abcdef" };
  }
  const { dataDir, db } = await freshEmbedded(t);
  await db.close(); // the data folder admits one process at a time
  return { DATA_DIR: dataDir };
}

/** How many requests to `path` the server has logged as received. */
const received = (output: string, path: string): number =>
  output.split("\n").filter((l) => l.includes('"msg":"incoming request"') && l.includes(`"url":"${path}"`)).length;

for (const mode of ["embedded", "postgres"] as const) {
  t.test(
    `SIGTERM under load (${mode}): in-flight requests get their normal answers, new connections are refused or 503, exit code 0`,
    { timeout: 120_000 },
    async (t) => {
      const env = {
        ...(await storageEnv(t, mode)),
        LOG_LEVEL: "info",
        COOKIE_SECURE: "false",
        ADMIN_CLIENT_ID: ADMIN.id,
        ADMIN_CLIENT_SECRET: ADMIN.secret,
        // One user logs in BURST times: no eviction may end a session this test follows.
        MAX_SESSIONS_PER_USER: "100",
        ...GENEROUS_LIMITS,
      };
      const server = await startServer(t, env);
      const credentials = { username: `sigterm_${mode}_${process.pid}`, password: "correct horse battery staple" };
      const created = await rawRequest(server.base, "POST", "/admin/users", {
        body: credentials,
        headers: { authorization: basicAuth(ADMIN.id, ADMIN.secret) },
      });
      t.equal(created.statusCode, 201, "user created through the admin API");
      t.equal((await rawRequest(server.base, "POST", "/login", { body: credentials })).statusCode, 200, "warm-up login");

      // The burst: each login on a connection of its own.
      const before = received(server.output(), "/login");
      const burst = Array.from({ length: BURST }, () => {
        const p = rawRequest(server.base, "POST", "/login", { body: credentials }).then((res) => ({ res, at: Date.now() }));
        p.catch(() => {}); // judged below
        return p;
      });
      // In flight means the server has it: wait until it logged every one as received.
      await server.waitFor((o) => received(o, "/login") >= before + BURST, 30_000);
      server.child.kill("SIGTERM");
      const signalledAt = Date.now();

      // A new connection after the server began to shut down. Refused, or reset
      // if the kernel had queued it before the listener closed: either way no
      // request is half-served, and a client or balancer retries elsewhere.
      await server.waitFor(/shutting down/, 10_000);
      const late = await rawRequest(server.base, "GET", "/healthz", { timeoutMs: 10_000 }).then(
        (res): RawAnswer | Error => res,
        (err: Error) => err,
      );
      const lateAt = Date.now();
      const refused =
        late instanceof Error
          ? /ECONNREFUSED|ECONNRESET|socket hang up/.test(`${(late as NodeJS.ErrnoException).code} ${late.message}`)
          : isDocumented503(late) || late.statusCode === 503;
      t.ok(
        refused,
        `a new connection is refused cleanly or answered 503 (${late instanceof Error ? ((late as NodeJS.ErrnoException).code ?? late.message) : `${late.statusCode} ${late.body}`})`,
      );

      const results = await Promise.allSettled(burst);
      const failures = results.flatMap((r, i) =>
        r.status === "rejected"
          ? [`#${i}: ${(r.reason as Error).message}`]
          : r.value.res.statusCode !== 200 || typeof JSON.parse(r.value.res.body).access_token !== "string"
            ? [`#${i}: ${r.value.res.statusCode} ${r.value.res.body.slice(0, 120)}`]
            : [],
      );
      t.same(failures, [], `every one of the ${BURST} logins in flight got its 200 with tokens`);
      const answeredAfterSignal = results.filter((r) => r.status === "fulfilled" && r.value.at >= signalledAt).length;
      t.ok(
        answeredAfterSignal > 0,
        `some logins were still in flight when SIGTERM arrived (${answeredAfterSignal} of ${BURST} answered after it)`,
      );
      const finishedAfterLate = results.filter((r) => r.status === "fulfilled" && r.value.at >= lateAt).length;
      t.comment(`${finishedAfterLate} in-flight logins were answered after the new connection was turned away`);

      const code = await orNullAfter(EXIT_BOUND_MS, server.exited).then((c) =>
        c === null && server.child.exitCode === null ? "still running" : c,
      );
      t.equal(code, 0, "the process exits 0 once the in-flight requests are done");
      t.notMatch(server.output(), /"level":(50|60)/, "nothing logged at error level during the shutdown");

      // What the in-flight logins answered was committed before the exit: the last one's session works after a restart.
      const last = results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : [])).sort((a, b) => b.at - a.at)[0];
      if (last) {
        const again = await startServer(t, env);
        const refreshed = await rawRequest(again.base, "POST", "/refresh", {
          body: { refresh_token: JSON.parse(last.res.body).refresh_token },
        });
        t.equal(refreshed.statusCode, 200, "the session of a login answered during the shutdown refreshes after a restart");
        again.child.kill("SIGTERM");
        t.equal(await orNullAfter(EXIT_BOUND_MS, again.exited), 0, "and that server exits 0 too");
      }
    },
  );
}
