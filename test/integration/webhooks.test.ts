// SPEC §14 webhooks: subscriptions with sealed secrets, deliveries queued
// in the event's transaction, signed per Standard Webhooks (checked with an
// independent implementation), retried with backoff for 24 h, never
// redirected, bounded in time, sent once by one of several instances, and
// surviving a restart between the event and the send.
import { Webhook } from "standardwebhooks";
import t from "tap";
import { WEBHOOK_EVENT_TYPES } from "../../src/domain/webhook-events.js";
import { runCleanup } from "../../src/maintenance/cleanup.js";
import { DAY, HOUR, SECOND } from "../fixtures/clock.js";
import { eventually } from "../fixtures/eventually.js";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { basicAuth } from "../fixtures/service-client.js";
import { webhookReceiver } from "../fixtures/webhook-receiver.js";

const ADMIN = { id: "hooks-admin", secret: "hooks-admin-secret-0123456789" };
const env = { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret };
const admin = { authorization: basicAuth(ADMIN.id, ADMIN.secret) };
const UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";

async function subscribe(app: TestApp["app"], url: string, events: string[]) {
  const res = await app.inject({ method: "POST", url: "/admin/webhooks", headers: admin, payload: { url, events } });
  if (res.statusCode !== 201) throw new Error(`subscribe: ${res.statusCode} ${res.body}`);
  return res.json() as { id: string; secret: string; url: string; events: string[] };
}

const deliveries = async (app: TestApp["app"], id: string) =>
  (await app.inject({ url: `/admin/webhooks/${id}/deliveries`, headers: admin })).json().deliveries as Array<Record<string, unknown>>;

t.test("the SQL mapping of audit events produces exactly the SPEC's webhook types", async (t) => {
  const ta = await testApp(t, "postgres");
  const [fn] = await ta.services.db.prisma.$queryRaw<
    Array<{ src: string }>
  >`SELECT prosrc AS src FROM pg_proc WHERE proname = 'sa_webhook_event'`;
  const produced = new Set([...fn!.src.matchAll(/THEN '([^']+)'/g)].map((m) => m[1]));
  t.strictSame([...produced].sort(), [...WEBHOOK_EVENT_TYPES].sort());
});

for (const mode of MODES) {
  t.test(`${mode}: subscriptions: secret shown once and sealed at rest, input checked, deletion`, async (t) => {
    const ta = await testApp(t, mode, { env });
    const sub = await subscribe(ta.app, "http://127.0.0.1:9/hook", ["session.created", "key.revoked"]);
    t.match(sub, { id: String, url: "http://127.0.0.1:9/hook", events: ["session.created", "key.revoked"] });
    t.match(sub.secret, /^whsec_[A-Za-z0-9+/]{43}=$/, "whsec_ and the base64 of 32 bytes");
    const [row] = await ta.services.db.prisma.$queryRaw<
      Array<{ sealed: Uint8Array }>
    >`SELECT secret_sealed AS sealed FROM webhook_subscriptions`;
    const key = Buffer.from(sub.secret.slice(6), "base64");
    t.notOk(
      Buffer.from(row!.sealed).includes(key) || Buffer.from(row!.sealed).includes(Buffer.from(sub.secret)),
      "only the sealed secret is stored",
    );
    const list = (await ta.app.inject({ url: "/admin/webhooks", headers: admin })).json();
    t.strictSame(
      list.webhooks.map((w: Record<string, unknown>) => Object.keys(w).sort()),
      [["created_at", "events", "id", "url"]],
      "the list never shows the secret",
    );

    for (const payload of [
      { url: "http://127.0.0.1/hook", events: ["session.teleported"] },
      { url: "http://127.0.0.1/hook", events: [] },
      { url: "ftp://127.0.0.1/hook", events: ["session.created"] },
      { url: "not a url", events: ["session.created"] },
      { url: "http://user:pw@127.0.0.1/hook", events: ["session.created"] },
      { url: `http://127.0.0.1/${"é".repeat(1000)}`, events: ["session.created"] }, // over 2048 once encoded
    ]) {
      const res = await ta.app.inject({ method: "POST", url: "/admin/webhooks", headers: admin, payload });
      t.equal(res.statusCode, 400, `refused: ${JSON.stringify(payload).slice(0, 80)}`);
      t.equal(res.json().error, "invalid_request");
    }
    // What Postgres cannot store (docs/lessons.md: NUL bytes, lone surrogates) is refused in one place, never a 500.
    const odd = await ta.app.inject({
      method: "POST",
      url: "/admin/webhooks",
      headers: admin,
      payload: { url: "http://127.0.0.1/a\u0000b\ud800", events: ["key.rotated"] },
    });
    t.equal(odd.statusCode, 400);
    t.equal(odd.json().error, "invalid_request");
    t.equal(
      (await ta.app.inject({ method: "POST", url: "/admin/webhooks", payload: { url: "http://x/", events: ["key.rotated"] } })).statusCode,
      401,
    );
    t.equal((await ta.app.inject({ method: "DELETE", url: `/admin/webhooks/${sub.id}`, headers: admin })).statusCode, 204);
    t.equal((await ta.app.inject({ method: "DELETE", url: `/admin/webhooks/${sub.id}`, headers: admin })).statusCode, 404);
    t.equal((await ta.app.inject({ url: `/admin/webhooks/${sub.id}/deliveries`, headers: admin })).statusCode, 404);
  });

  t.test(`${mode}: a user-wide revocation is one session.revoked per session, each naming its application`, async (t) => {
    const ta = await testApp(t, mode, { env });
    const rx = await webhookReceiver(t);
    await subscribe(ta.app, rx.url(), ["session.revoked"]);
    const created = await ta.app.inject({
      method: "POST",
      url: "/admin/applications",
      headers: admin,
      payload: { id: "ios.app", name: "iOS" },
    });
    t.equal(created.statusCode, 201);
    const u = await ta.createUser();
    const web = (await ta.login(u.username, u.password)).json();
    const ios = (await ta.login(u.username, u.password, { client_id: "ios.app" })).json();
    const all = await ta.app.inject({ method: "DELETE", url: `/admin/users/${u.id}/sessions`, headers: admin });
    t.equal(all.statusCode, 204);
    t.equal(await ta.services.webhookWorker.tick(), 2);
    const data = rx
      .at()
      .map((r) => (JSON.parse(r.body) as { data: Record<string, unknown> }).data)
      .sort((a, b) => String(a.client_id).localeCompare(String(b.client_id)));
    t.match(data, [
      { session_id: web.session_id, client_id: "default", user_id: u.id, reason: "admin" },
      { session_id: ios.session_id, client_id: "ios.app", user_id: u.id, reason: "admin" },
    ]);
    t.notOk(
      data.some((d) => "sessions" in d || "client_ids" in d),
      "the audit row's lists stay out of the payloads",
    );
  });

  t.test(`${mode}: events are delivered signed per Standard Webhooks, with their data`, async (t) => {
    const ta = await testApp(t, mode, { env });
    const rx = await webhookReceiver(t);
    const sub = await subscribe(ta.app, rx.url(), ["session.created", "session.revoked"]);
    const other = await subscribe(ta.app, rx.url("/keys-only"), ["key.rotated"]);
    const u = await ta.createUser();
    const first = (await ta.login(u.username, u.password, {}, { "user-agent": UA })).json();
    await ta.login(u.username, u.password, {}, { "user-agent": UA });
    await ta.app.inject({ method: "DELETE", url: `/admin/sessions/${first.session_id}`, headers: admin });
    // A refresh is no webhook event: nothing is queued for it.
    await ta.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: first.refresh_token } });
    t.equal(await ta.services.webhookWorker.tick(), 3);
    t.equal(await ta.services.webhookWorker.tick(), 0, "each delivery is sent once");

    const got = rx.at();
    t.equal(got.length, 3);
    const wh = new Webhook(sub.secret);
    const bodies = got.map(
      (r) => wh.verify(r.body, r.headers) as { id: string; type: string; timestamp: string; data: Record<string, unknown> },
    );
    t.throws(() => wh.verify(got[0]!.body.replace("session", "sessioN"), got[0]!.headers), "a changed body does not verify");
    t.throws(() => new Webhook(other.secret).verify(got[0]!.body, got[0]!.headers), "nor another subscription's secret");
    t.strictSame(
      got.map((r) => r.headers["webhook-id"]),
      bodies.map((b) => b.id),
      "webhook-id is the payload id",
    );
    t.match(got[0]!.headers["webhook-signature"], /^v1,[A-Za-z0-9+/]{43}=$/);
    t.equal(got[0]!.headers["content-type"], "application/json");
    const byType = (type: string) => bodies.filter((b) => b.type === type);
    t.match(byType("session.created"), [
      {
        timestamp: ta.clock.now().toISOString(),
        data: {
          user_id: u.id,
          session_id: first.session_id,
          transport: "bearer",
          device: { browser: "Safari", os: "Mac OS" },
          new_device: true,
        },
      },
      { data: { user_id: u.id, new_device: false } },
    ]);
    t.match(byType("session.revoked"), [
      { data: { user_id: u.id, session_id: first.session_id, reason: "admin", actor: `client:${ADMIN.id}` } },
    ]);
    t.equal(rx.at("/keys-only").length, 0, "a receiver gets only the events it subscribed to");
    t.match(await deliveries(ta.app, sub.id), [
      { status: "delivered", attempts: 1, last_status: 204, type: String, delivered_at: String, next_attempt_at: null },
      { status: "delivered", attempts: 1 },
      { status: "delivered", attempts: 1 },
    ]);
  });

  t.test(`${mode}: a delivery survives a restart between the event and the send, and is sent once`, async (t) => {
    const before = await testApp(t, mode, { env });
    const rx = await webhookReceiver(t);
    const sub = await subscribe(before.app, rx.url(), ["session.created"]);
    const u = await before.createUser();
    t.equal((await before.login(u.username, u.password)).statusCode, 200);
    t.match(await deliveries(before.app, sub.id), [{ status: "pending", attempts: 0 }], "queued with the event");
    await before.app.close();
    await before.services.close(); // never sent: no worker ran

    const storage = before.services.config.storage.databaseUrl
      ? { url: before.services.config.storage.databaseUrl }
      : { dataDir: before.services.config.storage.dataDir };
    const after = await testApp(t, mode, { env, storage, serviceOptions: { background: true, webhookIntervalMs: 20 } });
    await eventually(() => rx.at().length === 1);
    for (let i = 0; i < 3; i++) await after.services.webhookWorker.tick();
    t.equal(rx.at().length, 1, "sent after the restart, once");
    t.match(await deliveries(after.app, sub.id), [{ status: "delivered", attempts: 1 }]);
  });

  t.test(`${mode}: no redirect is followed; failures back off with jitter and retry for 24 h, then give up`, async (t) => {
    const ta = await testApp(t, mode, { env });
    const rx = await webhookReceiver(t);
    const sub = await subscribe(ta.app, rx.url(), ["session.created"]);
    const statuses = [302, 500, 204];
    rx.answer((_r, res) => {
      const status = statuses.shift() ?? 500;
      res.writeHead(status, status === 302 ? { location: rx.url("/elsewhere") } : {}).end();
    });
    const u = await ta.createUser();
    await ta.login(u.username, u.password);
    const t0 = ta.clock.now().getTime();
    await ta.services.webhookWorker.tick();
    t.equal(rx.at("/elsewhere").length, 0, "the redirect was not followed");
    const [d1] = await deliveries(ta.app, sub.id);
    t.match(d1, { status: "pending", attempts: 1, last_status: 302, last_error: "redirect 302 not followed" });
    const wait1 = Date.parse(d1!.next_attempt_at as string) - t0;
    t.ok(wait1 >= 2.5 * SECOND && wait1 <= 5 * SECOND, `first retry after ${wait1} ms (5 s with equal jitter)`);
    t.equal(await ta.services.webhookWorker.tick(), 0, "not before it is due");
    ta.clock.advance(5 * SECOND);
    await ta.services.webhookWorker.tick();
    const [d2] = await deliveries(ta.app, sub.id);
    t.match(d2, { status: "pending", attempts: 2, last_status: 500, last_error: "status 500" });
    const wait2 = Date.parse(d2!.next_attempt_at as string) - ta.clock.now().getTime();
    t.ok(wait2 >= 5 * SECOND && wait2 <= 10 * SECOND, `second retry after ${wait2} ms (10 s with jitter)`);
    ta.clock.advance(10 * SECOND);
    await ta.services.webhookWorker.tick();
    t.match(await deliveries(ta.app, sub.id), [{ status: "delivered", attempts: 3, last_status: 204 }]);
    t.equal(new Set(rx.at().map((r) => r.headers["webhook-id"])).size, 1, "every attempt carries the same webhook-id");

    // A receiver that never recovers: retried until the delivery is 24 h old, then given up.
    await ta.login(u.username, u.password);
    const start = ta.clock.now().getTime();
    const attemptsAt: number[] = [];
    for (let i = 0; i < 200; i++) {
      const [latest] = await deliveries(ta.app, sub.id);
      if (latest!.status !== "pending") break;
      if (latest!.next_attempt_at) ta.clock.set(Math.max(ta.clock.now().getTime(), Date.parse(latest!.next_attempt_at as string)));
      if ((await ta.services.webhookWorker.tick()) === 1) attemptsAt.push(ta.clock.now().getTime() - start);
    }
    const [gaveUp] = await deliveries(ta.app, sub.id);
    t.match(gaveUp, { status: "failed", last_status: 500 });
    t.ok(attemptsAt.at(-1)! >= 24 * HOUR, `the last attempt came ${(attemptsAt.at(-1)! / HOUR).toFixed(1)} h after the first`);
    t.ok(attemptsAt.at(-2)! < 24 * HOUR, "and the one before it within the 24 h");
    const gaps = attemptsAt.slice(1).map((a, i) => a - attemptsAt[i]!);
    t.ok(
      gaps.every((g) => g <= HOUR),
      "backoff is capped at an hour",
    );
    t.equal(gaveUp!.attempts, attemptsAt.length, `${attemptsAt.length} attempts counted`);
  });
}

t.test("a receiver that does not answer is given up on after the timeout, and retried", async (t) => {
  const ta = await testApp(t, "postgres", { env, serviceOptions: { webhookTimeoutMs: 300 } });
  const rx = await webhookReceiver(t);
  rx.answer(() => {}); // never answers
  const sub = await subscribe(ta.app, rx.url(), ["session.created"]);
  const u = await ta.createUser();
  await ta.login(u.username, u.password);
  await ta.services.webhookWorker.tick();
  t.match(await deliveries(ta.app, sub.id), [{ status: "pending", attempts: 1, last_status: null, last_error: "no answer within 300 ms" }]);
});

t.test("several instances sending at once deliver each event once", async (t) => {
  const serviceOptions = { background: true, webhookIntervalMs: 5 };
  const first = await testApp(t, "postgres", { env, serviceOptions });
  const url = first.services.config.storage.databaseUrl!;
  const others = await Promise.all([1, 2].map(() => testApp(t, "postgres", { env, serviceOptions, storage: { url } })));
  const rx = await webhookReceiver(t);
  rx.answer((_r, res) => setTimeout(() => res.writeHead(200).end(), 20)); // slow: sends overlap the other instances' claims
  await subscribe(first.app, rx.url(), ["session.created"]);
  const N = 30;
  await Promise.all(
    [first, ...others].map(async (ta, i) => {
      const u = await ta.createUser(`hooks-user-${i}`);
      for (let k = 0; k < N / 3; k++) t.equal((await ta.login(u.username, u.password)).statusCode, 200);
    }),
  );
  await eventually(() => new Set(rx.at().map((r) => r.headers["webhook-id"])).size === N, 15_000);
  await Promise.all([first, ...others].map((ta) => ta.services.webhookWorker.tick()));
  t.equal(rx.at().length, N, `${N} events, ${rx.at().length} requests: none sent twice`);
});

t.test("retention deletes sent deliveries with the events they carried, and keeps pending ones", async (t) => {
  const ta = await testApp(t, "postgres", { env });
  const rx = await webhookReceiver(t);
  const sub = await subscribe(ta.app, rx.url(), ["session.created"]);
  const u = await ta.createUser();
  await ta.login(u.username, u.password);
  await ta.services.webhookWorker.tick();
  rx.answer(() => {}); // the next one stays pending
  await ta.login(u.username, u.password);
  ta.clock.advance(91 * DAY);
  const report = await runCleanup(ta.services.db, ta.clock, { sessionRetentionMs: 100 * DAY, auditRetentionMs: 90 * DAY, batchSize: 100 });
  t.equal(report?.webhookDeliveries, 1);
  t.match(await deliveries(ta.app, sub.id), [{ status: "pending", attempts: 0 }]);
});
