import pg from "pg";
import t from "tap";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { FakeClock, MINUTE, SECOND } from "../fixtures/clock.js";
import { sharedRedis, TOPOLOGIES, topologyPrefix } from "../fixtures/redis-topologies.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";
import { openSse } from "../fixtures/sse.js";

const list = async (ctx: TestApp, client: TestClient, since?: string) => {
  const res = await ctx.app.inject({
    url: `/revocations${since !== undefined ? `?since=${encodeURIComponent(since)}` : ""}`,
    headers: { authorization: client.basic },
  });
  return { status: res.statusCode, body: res.json() };
};

const logout = (ctx: TestApp, token: string, all = false) =>
  ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${token}` }, payload: all ? { all: true } : {} });

for (const mode of MODES)
  t.test(`${mode}: GET /revocations lists every live entry, and with ?since= the ones after a cursor`, async (t) => {
    const ctx = await testApp(t, mode);
    const reader = await createClient(ctx.services, ["revocations:read"]);
    const alice = await ctx.createUser();
    const bob = await ctx.createUser();

    const empty = await list(ctx, reader);
    // SPEC §4: the service tells verifiers the bounds it requires (MAX_REVOCATION_STALENESS, ACCESS_TOKEN_TTL).
    t.same(empty, { status: 200, body: { entries: [], cursor: "0", max_staleness: 30, max_token_lifetime: 600 } });

    const a1 = (await ctx.login(alice.username, alice.password)).json();
    const b1 = (await ctx.login(bob.username, bob.password)).json();
    await logout(ctx, a1.access_token);
    const now = () => Math.ceil(ctx.clock.now().getTime() / 1000);
    const first = await list(ctx, reader);
    t.equal(first.status, 200);
    t.same(first.body.entries, [{ sid: a1.session_id, exp: first.body.entries[0].exp }]);
    t.ok(Math.abs(first.body.entries[0].exp - (now() + 600)) <= 1, "exp is when the session's last access token expires");
    t.match(first.body.cursor, /^\d+$/);

    t.same(
      (await list(ctx, reader, first.body.cursor)).body,
      { entries: [], cursor: first.body.cursor, max_staleness: 30, max_token_lifetime: 600 },
      "nothing new: same cursor",
    );

    await logout(ctx, b1.access_token, true);
    const next = await list(ctx, reader, first.body.cursor);
    t.same(next.body.entries, [{ sub: bob.id, exp: now() + 600, not_before: now() }], "a user-wide entry carries not_before");
    t.not(next.body.cursor, first.body.cursor);
    t.equal((await list(ctx, reader)).body.entries.length, 2);

    ctx.clock.advance(10 * MINUTE + 2 * SECOND);
    t.same((await list(ctx, reader)).body.entries, [], "entries vanish once the tokens they stop have expired");

    for (const bad of ["abc", "-1", "1.5", "01", "99999999999999999999", ""]) {
      const res = await list(ctx, reader, bad);
      t.equal(res.status, 400, `malformed cursor ${JSON.stringify(bad)}`);
      t.equal(res.body.error, "invalid_request");
    }
    const unknown = await list(ctx, reader, "1000000");
    t.equal(unknown.status, 410, "a cursor this list never gave out is 410 Gone: start over");

    t.equal((await ctx.app.inject({ url: "/revocations" })).statusCode, 401);
    const introspector = await createClient(ctx.services, ["introspect"]);
    t.equal((await ctx.app.inject({ url: "/revocations", headers: { authorization: introspector.basic } })).statusCode, 403);
  });

t.test("a cursor never passes a revocation that is still being committed", async (t) => {
  const ctx = await testApp(t, "postgres");
  const reader = await createClient(ctx.services, ["revocations:read"]);
  const user = await ctx.createUser();
  const s1 = (await ctx.login(user.username, user.password)).json();
  const s2 = (await ctx.login(user.username, user.password)).json();

  // A transaction that took its id first and commits last.
  const slow = new pg.Client({ connectionString: ctx.services.config.storage.databaseUrl });
  await slow.connect();
  t.teardown(() => slow.end());
  await slow.query("BEGIN");
  const exp = new Date(ctx.clock.now().getTime() + 10 * MINUTE);
  const inFlight = await slow.query<{ id: string }>(
    "INSERT INTO revocations (kind, subject, expires_at, created_at) VALUES ('sid', $1, $2, $3) RETURNING id",
    [s2.session_id, exp, ctx.clock.now()],
  );
  await logout(ctx, s1.access_token);
  const before = await list(ctx, reader);
  t.same(
    before.body.entries.map((e: { sid: string }) => e.sid),
    [s1.session_id],
    "the uncommitted entry is not visible yet",
  );
  t.ok(BigInt(before.body.cursor) < BigInt(inFlight.rows[0]!.id), "the cursor stops below the in-flight id");

  await slow.query("COMMIT");
  const after = await list(ctx, reader, before.body.cursor);
  t.ok(
    after.body.entries.some((e: { sid: string }) => e.sid === s2.session_id),
    "the late commit is delivered after the cursor",
  );

  // A rolled-back id is a permanent gap; once older than any transaction, cursors pass it.
  await slow.query("BEGIN");
  await slow.query("INSERT INTO revocations (kind, subject, expires_at, created_at) VALUES ('sid', $1, $2, $3)", [
    s2.session_id,
    exp,
    ctx.clock.now(),
  ]);
  await slow.query("ROLLBACK");
  const s3 = (await ctx.login(user.username, user.password)).json();
  await logout(ctx, s3.access_token);
  const stuck = await list(ctx, reader, after.body.cursor);
  t.ok(stuck.body.entries.some((e: { sid: string }) => e.sid === s3.session_id));
  t.equal(stuck.body.cursor, after.body.cursor, "a fresh gap holds the cursor");
  ctx.clock.advance(31 * SECOND);
  const passed = await list(ctx, reader, after.body.cursor);
  t.ok(BigInt(passed.body.cursor) > BigInt(after.body.cursor), "a settled gap does not");
});

for (const topology of TOPOLOGIES)
  t.test(
    `GET /revocations/stream: snapshot, revocations from another instance within a second, heartbeats, resume (Redis ${topology})`,
    async (t) => {
      const clock = new FakeClock();
      const target = await sharedRedis(topology);
      const prefix = topologyPrefix(t, target);
      // B's revocations reach A's stream through Redis: A polls Postgres too rarely to be the messenger.
      const redis = { env: target.env, serviceOptions: { redisKeyPrefix: prefix, background: true, revocationPollMs: 60_000 } };
      const a = await testApp(t, "postgres", { clock, ...redis, appOptions: { sseHeartbeatMs: 200 } });
      const b = await testApp(t, "postgres", { clock, ...redis, storage: { url: a.services.config.storage.databaseUrl! } });
      const reader = await createClient(a.services, ["revocations:read"]);
      const user = await a.createUser();
      const old = (await a.login(user.username, user.password)).json();
      await logout(a, old.access_token);
      const address = await a.app.listen({ host: "127.0.0.1", port: 0 });
      const url = `${address}/revocations/stream`;
      const auth = { authorization: reader.basic };

      const stream = await openSse(url, auth);
      t.teardown(() => stream.close());
      t.equal(stream.status, 200);
      t.match(stream.headers["content-type"], /^text\/event-stream/);
      const snapshot = await stream.next();
      t.equal(snapshot?.event, "snapshot", "the first event is the snapshot");
      const snap = JSON.parse(snapshot!.data);
      t.same(
        snap.entries.map((e: { sid: string }) => e.sid),
        [old.session_id],
      );
      t.equal(snapshot?.id, snap.cursor);

      const beat = await stream.nextOf("heartbeat", 1_000);
      t.same(
        JSON.parse(beat.data),
        { cursor: snap.cursor, max_staleness: 30, max_token_lifetime: 600 },
        "heartbeats carry the stream's position and the verifier bounds",
      );

      const fresh = (await b.login(user.username, user.password)).json();
      const started = Date.now();
      t.equal((await logout(b, fresh.access_token)).statusCode, 204);
      const event = await stream.nextOf("revocation", 1_000);
      t.ok(Date.now() - started < 1_000, "a logout on another instance arrives within a second");
      const batch = JSON.parse(event.data);
      t.same(
        batch.entries.map((e: { sid: string }) => e.sid),
        [fresh.session_id],
      );
      t.equal(event.id, batch.cursor);

      const resumed = await openSse(`${url}?since=${snap.cursor}`, auth);
      t.teardown(() => resumed.close());
      const backlog = await resumed.next();
      t.equal(backlog?.event, "revocation", "resuming sends the backlog first, no snapshot");
      t.ok(JSON.parse(backlog!.data).entries.some((e: { sid: string }) => e.sid === fresh.session_id));
      resumed.close();

      const upToDate = await openSse(url, { ...auth, "last-event-id": JSON.parse(backlog!.data).cursor });
      t.teardown(() => upToDate.close());
      t.equal((await upToDate.next())?.event, "heartbeat", "resuming with nothing new starts with a heartbeat");
      upToDate.close();

      t.equal((await openSse(`${url}?since=abc`, auth)).status, 400);
      t.equal((await openSse(`${url}?since=99999999`, auth)).status, 410);
      t.equal((await openSse(url, {})).status, 401);

      const closing = a.app.close();
      let last;
      while ((last = await stream.next(2_000)) !== null) t.not(last.event, "snapshot");
      t.pass("closing the app ends open streams");
      await closing;
      t.equal(a.services.revocationFeed["listeners"].size, 0, "and unsubscribes them");
    },
  );

t.test("embedded: the stream announces revocations made by the same process", async (t) => {
  const ctx = await testApp(t, "embedded", { appOptions: { sseHeartbeatMs: 5_000 } });
  const reader = await createClient(ctx.services, ["revocations:read"]);
  const user = await ctx.createUser();
  const login = (await ctx.login(user.username, user.password)).json();
  const address = await ctx.app.listen({ host: "127.0.0.1", port: 0 });
  const stream = await openSse(`${address}/revocations/stream`, { authorization: reader.basic });
  t.teardown(() => stream.close());
  t.same(JSON.parse((await stream.nextOf("snapshot")).data).entries, []);
  await logout(ctx, login.access_token);
  const event = await stream.nextOf("revocation", 1_000);
  t.same(
    JSON.parse(event.data).entries.map((e: { sid: string }) => e.sid),
    [login.session_id],
  );
  stream.close();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(ctx.services.revocationFeed["listeners"].size, 0, "a client that goes away is unsubscribed");
});
