// SPEC §14 under contention: several instances write audit events at once
// and each links the chain in the background; the chain must neither fork
// nor gap. And the session statements never wait for the chain's lock.
import pg from "pg";
import t from "tap";
import { advisoryLockKey } from "../../src/storage/database.js";
import { testApp, type TestApp } from "../fixtures/app.js";
import { eventually } from "../fixtures/eventually.js";
import { basicAuth } from "../fixtures/service-client.js";

const ADMIN = { id: "chain-admin", secret: "chain-admin-secret-0123456789" };
const env = { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret };
const admin = { authorization: basicAuth(ADMIN.id, ADMIN.secret) };
const CHAIN_LOCK = advisoryLockKey("audit-chain").toString();

t.test("four instances writing and linking at once make one chain with no fork and no gap", async (t) => {
  const errors: string[] = [];
  const log = { info: () => {}, error: (obj: unknown, msg: string) => errors.push(`${msg}: ${String((obj as { err?: unknown }).err)}`) };
  // Linking every 2 ms: the instances fight for the lock all the time.
  const serviceOptions = { background: true, auditChainIntervalMs: 2, log };
  const first = await testApp(t, "postgres", { env, serviceOptions });
  const url = first.services.config.storage.databaseUrl!;
  const others = await Promise.all([1, 2, 3].map(() => testApp(t, "postgres", { env, serviceOptions, storage: { url } })));
  const instances: TestApp[] = [first, ...others];
  const ROUNDS = 25;
  await Promise.all(
    instances.map(async (ta, i) => {
      const user = await ta.createUser(`chain-user-${i}`); // one each: the session cap would evict across instances
      for (let r = 0; r < ROUNDS; r++) {
        const login = await ta.login(user.username, user.password);
        t.equal(login.statusCode, 200);
        const refreshed = await ta.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: login.json().refresh_token } });
        t.equal(refreshed.statusCode, 200);
        await Promise.all([
          ta.services.auditLog.record({ type: "contention_probe", actor: "test", detail: { instance: i, round: r } }, ta.clock.now()),
          ta.services.auditChain.catchUp(), // a reader's wait, racing the background ticks
          r % 5 === 0 ? ta.app.inject({ url: "/admin/audit?limit=5", headers: admin }) : null,
        ]);
      }
    }),
  );
  await first.services.auditChain.catchUp();
  const [stats] = await first.services.db.prisma.$queryRaw<
    Array<{ rows: bigint; linked: bigint; distinct_seq: bigint; max_seq: bigint | null }>
  >`
    SELECT count(*) AS rows, count(seq) AS linked, count(DISTINCT seq) AS distinct_seq, max(seq) AS max_seq FROM audit_events`;
  t.ok(Number(stats!.rows) >= instances.length * ROUNDS * 3, `${stats!.rows} events written`);
  t.equal(stats!.linked, stats!.rows, "every event is linked");
  t.equal(stats!.distinct_seq, stats!.rows, "no seq is used twice: no fork");
  t.equal(stats!.max_seq, stats!.rows, "seq runs 1..n: no gap");
  const report = (await first.app.inject({ url: "/admin/audit/verify", headers: admin })).json();
  t.match(report, { valid: true, checked: Number(stats!.rows), first_invalid: null });
  t.strictSame(errors, [], "no instance failed to link");
});

t.test("a refresh and a login do not wait for the chain lock; readers do, then serve the new events linked", async (t) => {
  const ta = await testApp(t, "postgres", { env });
  const user = await ta.createUser();
  const holder = new pg.Client({ connectionString: ta.services.config.storage.databaseUrl! });
  await holder.connect();
  t.teardown(() => holder.end());
  await holder.query("SELECT pg_advisory_lock($1::bigint)", [CHAIN_LOCK]);

  const login = await ta.login(user.username, user.password);
  t.equal(login.statusCode, 200, "login answers while the chain is locked");
  const refreshed = await ta.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: login.json().refresh_token } });
  t.equal(refreshed.statusCode, 200, "refresh answers while the chain is locked");

  const reading = ta.app.inject({ url: "/admin/audit", headers: admin });
  // The reader queues on the advisory lock: seen in pg_stat_activity, not guessed by sleeping.
  await eventually(async () => {
    const r = await holder.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
    );
    return r.rowCount! > 0;
  });
  await holder.query("SELECT pg_advisory_unlock($1::bigint)", [CHAIN_LOCK]);
  const events = (await reading).json().events as Array<{ type: string; seq: number | null }>;
  t.match(
    events.map((e) => e.type),
    ["refresh", "login_success"],
    "the reader serves what was written while it waited",
  );
  t.ok(
    events.every((e) => typeof e.seq === "number"),
    "linked",
  );
});

t.test("embedded: concurrent writers and linkers in one process make one chain", async (t) => {
  const errors: string[] = [];
  const log = { info: () => {}, error: (_obj: unknown, msg: string) => errors.push(msg) };
  const ta = await testApp(t, "embedded", { env, serviceOptions: { background: true, auditChainIntervalMs: 2, log } });
  const users = await Promise.all([0, 1, 2, 3].map((i) => ta.createUser(`embedded-chain-${i}`)));
  await Promise.all(
    users.map(async (user, i) => {
      for (let r = 0; r < 10; r++) {
        const login = await ta.login(user.username, user.password);
        t.equal(login.statusCode, 200);
        await Promise.all([
          ta.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: login.json().refresh_token } }),
          ta.services.auditLog.record({ type: "contention_probe", actor: "test", detail: { user: i, round: r } }, ta.clock.now()),
          ta.services.auditChain.catchUp(),
        ]);
      }
    }),
  );
  await ta.services.auditChain.catchUp();
  const [stats] = await ta.services.db.prisma.$queryRaw<
    Array<{ rows: bigint; linked: bigint; distinct_seq: bigint; max_seq: bigint | null }>
  >`
    SELECT count(*) AS rows, count(seq) AS linked, count(DISTINCT seq) AS distinct_seq, max(seq) AS max_seq FROM audit_events`;
  t.equal(stats!.linked, stats!.rows, `all ${stats!.rows} linked`);
  t.equal(stats!.distinct_seq, stats!.rows, "no fork");
  t.equal(stats!.max_seq, stats!.rows, "no gap");
  t.match((await ta.app.inject({ url: "/admin/audit/verify", headers: admin })).json(), { valid: true });
  t.strictSame(errors, []);
});
