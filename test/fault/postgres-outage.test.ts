// SPEC §1 and §5 under a real fault: the service's Postgres becomes
// unreachable, then reachable again, with the same app running throughout.
// Its connections go through a proxy the test controls; the shared server is
// never touched. Two ways to lose a database: it refuses (the server or its
// host is down: resets, refused connections) or the network partitions
// (silence: nothing answers, nothing fails fast).
import t from "tap";
import { testApp } from "../fixtures/app.js";
import { freshPostgres, postgresAdminUrl } from "../fixtures/database.js";
import { eventually } from "../fixtures/eventually.js";
import { faultProxy } from "../fixtures/fault-proxy.js";
import { GENEROUS_LIMITS, isDocumented503, orNullAfter, WallClock, type Answer } from "../fixtures/fault-support.js";

/**
 * The longest a request may take while Postgres is away: an answer, not a
 * hang. Above the service's own connect timeout (10 s), below what a load
 * balancer or a client would wait.
 */
const ANSWER_BOUND_MS = 15_000;

const postgresTarget = () => {
  const u = new URL(postgresAdminUrl());
  return { host: u.hostname, port: Number(u.port || 5432) };
};

// biome-ignore lint/suspicious/noExplicitAny: answers are arbitrary JSON, inspected field by field
type Timed = { res: Answer & { json(): any }; ms: number } | { res: null; ms: number };

/** Status, Retry-After and (for errors only: a 200 carries tokens) the body. */
const describe = (r: Timed) =>
  r.res
    ? `${r.res.statusCode} retry-after=${String(r.res.headers["retry-after"])}${r.res.statusCode >= 400 ? ` ${r.res.body.slice(0, 120)}` : ""} after ${r.ms} ms`
    : `no answer within ${r.ms} ms`;

const outages = ["refused", "partitioned"] as const;

for (const kind of outages) {
  t.test(
    `Postgres ${kind}: login and refresh answer 503 unavailable with Retry-After within a bound, /healthz stays 200, /readyz says postgres unreachable, and the app recovers by itself`,
    { timeout: 120_000 },
    async (t) => {
      const { url } = await freshPostgres(t);
      const proxy = await faultProxy(t, postgresTarget());
      const { app, createUser } = await testApp(t, "postgres", {
        clock: new WallClock(),
        storage: { url: proxy.url(url) },
        env: GENEROUS_LIMITS,
      });
      const { username, password } = await createUser();
      const credentials = { username, password };
      const before = (await app.inject({ method: "POST", url: "/login", payload: credentials })).json();
      t.ok(before.refresh_token, "login works through the proxy");

      const inflight = new Set<Promise<unknown>>();
      const request = async (method: "GET" | "POST", path: string, payload?: object): Promise<Timed> => {
        const start = Date.now();
        const p = app.inject({ method, url: path, ...(payload ? { payload } : {}) });
        inflight.add(p);
        void p.finally(() => inflight.delete(p)).catch(() => {});
        const res = await orNullAfter(ANSWER_BOUND_MS, p);
        const ms = Date.now() - start;
        return res ? { res: Object.assign(res, { headers: res.headers as Record<string, unknown> }), ms } : { res: null, ms };
      };
      const documented503 = (r: Timed) => r.res !== null && isDocumented503(r.res);

      if (kind === "refused") await proxy.refuse();
      else proxy.freeze();

      // Concurrently, as a real outage meets them.
      const [login, refresh, health, ready] = await Promise.all([
        request("POST", "/login", credentials),
        request("POST", "/refresh", { refresh_token: before.refresh_token }),
        request("GET", "/healthz"),
        request("GET", "/readyz"),
      ]);
      t.ok(documented503(login), `login: 503 unavailable with Retry-After (${describe(login)})`);
      t.ok(documented503(refresh), `refresh: 503 unavailable with Retry-After (${describe(refresh)})`);
      t.equal(health.res?.statusCode, 200, `/healthz: the process is up (${describe(health)})`);
      const readyOk = ready.res?.statusCode === 503 && ready.res.json().postgres === "unreachable" && ready.res.json().ready === false;
      t.ok(readyOk, `/readyz: 503 with postgres unreachable (${describe(ready)})`);

      // A second round, once the pool knows its connections are gone.
      const again = await request("POST", "/login", credentials);
      t.ok(documented503(again), `login again: 503 unavailable with Retry-After (${describe(again)})`);
      t.equal((await request("GET", "/healthz")).res?.statusCode, 200, "the process is still up");

      await proxy.heal();
      // No restart: the pool reconnects on its own.
      const back = (await eventually(async () => {
        const r = await request("POST", "/login", credentials);
        return r.res?.statusCode === 200 ? r.res : null;
      }, 30_000))!; // eventually() resolves only with a truthy value
      t.ok(back.json().access_token, "login works again once Postgres is reachable, without restarting the app");
      const rotated = await request("POST", "/refresh", { refresh_token: back.json().refresh_token });
      t.equal(rotated.res?.statusCode, 200, `refresh works again (${describe(rotated)})`);
      const readyAgain = await eventually(async () => ((await request("GET", "/readyz")).res?.statusCode === 200 ? true : null), 15_000);
      t.ok(readyAgain, "/readyz is 200 again");
      // Requests that hung through the partition must end before teardown closes the app.
      await orNullAfter(30_000, Promise.allSettled([...inflight]));
      t.equal(inflight.size, 0, "no request is left hanging after the network healed");
    },
  );
}
