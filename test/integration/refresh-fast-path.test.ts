// The ordinary refresh: one statement that decides and writes the rotation
// (SessionStore.rotateFast), nothing read before it. These tests prove it
// rotates exactly when the locked path's rules find the ordinary rotation,
// writes the same rows as the locked path it falls back to, and loses to a
// revocation or a concurrent refresh that holds the session's lock.
import pg from "pg";
import t from "tap";
import { lockWaiters } from "../fixtures/lock-waiters.js";
import type { LightMyRequestResponse } from "fastify";
import { assessDeviceChange } from "../../src/domain/device.js";
import { openSuccessor } from "../../src/domain/successor.js";
import { parseUserAgent } from "../../src/lib/user-agent.js";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { SECOND } from "../fixtures/clock.js";
import { freshPostgres, type Teardown } from "../fixtures/database.js";

const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

const refresh = (
  app: TestApp["app"],
  token: string,
  headers: Record<string, string> = { "user-agent": UA },
  remoteAddress?: string,
): Promise<LightMyRequestResponse> =>
  // A promise, not inject()'s lazy chain: the request starts at once.
  Promise.resolve(
    app.inject({
      method: "POST",
      url: "/refresh",
      payload: { refresh_token: token },
      headers,
      ...(remoteAddress ? { remoteAddress } : {}),
    }),
  );

/** Records whether each attempt of the one-statement rotation rotated. */
function spyRotations(ctx: TestApp): boolean[] {
  const store = ctx.services.sessionStore;
  const original = store.rotateFast;
  const outcomes: boolean[] = [];
  store.rotateFast = async (write) => {
    const outcome = await original.call(store, write);
    outcomes.push(outcome !== null);
    return outcome;
  };
  return outcomes;
}

const metric = async (ctx: TestApp, name: string): Promise<number> => {
  const body = (await ctx.app.inject({ url: "/metrics" })).body;
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(body);
  return m ? Number(m[1]) : 0;
};

/** A promise's state without waiting for it. */
const settled = async (p: Promise<unknown>) =>
  Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    new Promise((r) => setTimeout(() => r(false), 0)),
  ]);

for (const mode of MODES) {
  t.test(`${mode}: a revoked session's token: the statement writes nothing, 401, the token not burnt`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    await ctx.services.revocations.revokeSession(first.session_id, "admin", "system");
    const rotations = spyRotations(ctx);
    const res = await refresh(ctx.app, first.refresh_token);
    t.same(rotations, [false], "the one statement was tried and wrote nothing");

    t.equal(res.statusCode, 401);
    t.equal(res.json().error, "invalid_grant");
    t.notOk(res.json().refresh_token, "no token minted");
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 1, "no successor row");
    t.equal(chain[0]!.rotatedAt, null, "the claim did not happen");
    t.equal(
      await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "refresh" } }),
      0,
      "no refresh audited",
    );
    t.equal(await metric(ctx, "session_authority_refreshes_total"), 0, "no refresh counted");
  });

  t.test(`${mode}: concurrent refreshes of one token: one rotation in one statement, the others converge on its successor`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    const rotations = spyRotations(ctx);
    const answers = await Promise.all(Array.from({ length: 5 }, () => refresh(ctx.app, first.refresh_token)));

    t.same(
      answers.map((a) => a.statusCode),
      [200, 200, 200, 200, 200],
      "every retry within the grace window succeeds",
    );
    t.equal(new Set(answers.map((a) => a.json().refresh_token)).size, 1, "one successor: one chain, no fork");
    t.equal(rotations.filter(Boolean).length, 1, "exactly one statement rotated");
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 2, "exactly one successor row");
    t.equal(chain.filter((r) => r.rotatedAt === null).length, 1, "one live token");
    t.equal(
      await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "refresh" } }),
      1,
      "one rotation audited",
    );
    t.equal(await metric(ctx, "session_authority_refreshes_total"), 1, "one rotation counted");
    t.equal((await refresh(ctx.app, answers[0]!.json().refresh_token)).statusCode, 200, "the chain goes on");
  });

  t.test(`${mode}: the one-statement rotation writes the same rows as the locked rotation`, async (t) => {
    const ctx = await testApp(t, mode);
    const { prisma } = ctx.services.db;
    const user = await ctx.createUser();
    const headers = { "user-agent": UA };
    const directSession = (await ctx.login(user.username, user.password, {}, headers)).json();
    const lockedSession = (await ctx.login(user.username, user.password, {}, headers)).json();
    ctx.clock.advance(30 * SECOND);

    const rotations = spyRotations(ctx);
    const direct = await refresh(ctx.app, directSession.refresh_token);
    t.same(rotations, [true], "the first refresh rotated in one statement");
    // Force the locked path: the statement reports that it wrote nothing.
    const store = ctx.services.sessionStore;
    const rotate = store.rotateFast;
    let forced = 0;
    store.rotateFast = async () => (forced++, null);
    const locked = await refresh(ctx.app, lockedSession.refresh_token);
    store.rotateFast = rotate;
    t.equal(forced, 1, "the second refresh tried the statement and fell back");
    t.equal(direct.statusCode, 200);
    t.equal(locked.statusCode, 200);
    t.same(
      { ...direct.json(), access_token: "", refresh_token: "", session_id: "" },
      { ...locked.json(), access_token: "", refresh_token: "", session_id: "" },
      "same answer",
    );

    const rowsOf = async (sessionId: string, presented: string, successor: string) => {
      const { id, ...session } = await prisma.session.findUniqueOrThrow({ where: { id: sessionId } });
      const [parent, child, ...rest] = await prisma.refreshToken.findMany({ where: { sessionId }, orderBy: { createdAt: "asc" } });
      t.equal(rest.length, 0);
      t.equal(
        openSuccessor(presented, parent!.id, parent!.successorSealed!),
        successor,
        "the parent's sealed successor opens to the answer's token",
      );
      t.equal(child!.parentId, parent!.id);
      const strip = (r: typeof parent) => {
        const { id: _id, sessionId: _s, tokenHash: _h, parentId: _p, successorSealed, ...rest } = r!;
        return { ...rest, sealed: successorSealed !== null };
      };
      const audit = (await prisma.auditEvent.findMany({ where: { sessionId, type: "refresh" } })).map(
        ({ id: _id, sessionId: _s, detail, ...e }) => {
          t.same(detail, { token_id: parent!.id, client_id: "default" });
          return e;
        },
      );
      return { session, parent: strip(parent), child: strip(child), audit };
    };
    const a = await rowsOf(directSession.session_id, directSession.refresh_token, direct.json().refresh_token);
    const b = await rowsOf(lockedSession.session_id, lockedSession.refresh_token, locked.json().refresh_token);
    t.same(a, b, "session columns, both chain rows and the audit event are identical");
    t.equal(a.audit.length, 1);
    t.equal(a.session.userAgent, UA);
    t.equal(a.session.uaBrowser, "Chrome");
    t.equal(
      a.session.idleExpiresAt.getTime(),
      ctx.clock.now().getTime() + 7 * 86_400 * SECOND,
      "the idle expiry slid to now + REFRESH_TOKEN_TTL",
    );
  });

  t.test(`${mode}: refreshes racing a logout: no 5xx, no token after the revocation refreshes, one chain`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    const logout = ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${first.access_token}` } });
    const results = await Promise.all([...Array.from({ length: 20 }, () => refresh(ctx.app, first.refresh_token)), logout]);
    const statuses = results.map((r) => r.statusCode);
    t.notOk(
      statuses.some((s) => s >= 500),
      `no 5xx (${statuses.join(",")})`,
    );
    t.equal(statuses.at(-1), 204, "the logout answered");
    const successors = new Set(
      results
        .slice(0, -1)
        .filter((r) => r.statusCode === 200)
        .map((r) => r.json().refresh_token as string),
    );
    t.ok(successors.size <= 1, "at most one successor was handed out");
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.ok(chain.length <= 2, "at most one successor row");
    const session = await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedReason, "logout");
    for (const token of [first.refresh_token, ...successors]) {
      t.equal((await refresh(ctx.app, token)).statusCode, 401, "nothing of the revoked session refreshes afterwards");
    }
  });

  t.test(`${mode}: the statement rotates exactly when the locked path's device rule finds no change`, async (t) => {
    const ctx = await testApp(t, mode);
    const { prisma } = ctx.services.db;
    const user = await ctx.createUser();
    // `stored`: the session's user agent at login ("" for none) and whether its IP is then unknown.
    // An empty header is no user agent (inject would otherwise send its own).
    const cases: Array<{ what: string; storedUa?: string; storedIpUnknown?: boolean; ua: string; ip?: string }> = [
      { what: "the same browser and IP", ua: UA },
      { what: "no user agent (no evidence of a change)", ua: "" },
      { what: "another IP", ua: UA, ip: "198.51.100.9" },
      { what: "another browser", ua: FIREFOX },
      { what: "an unparseable user agent (unknown is no evidence)", ua: "curl/8.5.0" },
      { what: "a session stored without a user agent, then a browser", storedUa: "", ua: UA },
      { what: "a session stored without an IP, then any IP", storedIpUnknown: true, ua: UA, ip: "198.51.100.9" },
      { what: "a session stored without a user agent, then another IP", storedUa: "", ua: FIREFOX, ip: "198.51.100.9" },
    ];
    for (const c of cases) {
      const storedUa = c.storedUa ?? UA;
      const session = (await ctx.login(user.username, user.password, {}, { "user-agent": storedUa })).json();
      if (c.storedIpUnknown) await prisma.session.update({ where: { id: session.session_id }, data: { lastIp: null } });
      const rotations = spyRotations(ctx);
      const res = await refresh(ctx.app, session.refresh_token, { "user-agent": c.ua }, c.ip);
      const before = { device: parseUserAgent(storedUa || null), ip: c.storedIpUnknown ? null : "127.0.0.1" };
      const after = { device: parseUserAgent(c.ua || null), ip: c.ip ?? "127.0.0.1" };
      const unchanged = assessDeviceChange(before, after, "default").changes.length === 0;
      t.same(rotations.slice(0, 1), [unchanged], `${c.what}: rotated by the one statement ${unchanged ? "" : "not "}as the rule says`);
      const row = await prisma.session.findUniqueOrThrow({ where: { id: session.session_id } });
      if (unchanged) {
        t.equal(res.statusCode, 200, `${c.what}: rotated`);
        t.equal(row.userAgent, c.ua || storedUa || null, `${c.what}: a missing user agent keeps the stored one`);
        t.equal(row.uaBrowser, parseUserAgent(c.ua || storedUa || null).browser, `${c.what}: the device follows the user agent`);
        t.equal(row.lastIp, c.ip ?? "127.0.0.1", `${c.what}: the IP is the request's`);
      } else {
        // Default policy: another IP flags and rotates, another browser revokes; both under the lock, with their audit.
        t.equal(
          await prisma.auditEvent.count({ where: { sessionId: session.session_id, type: "device_change" } }),
          1,
          `${c.what}: the change is audited`,
        );
      }
    }
  });

  t.test(`${mode}: device changes and unknown tokens go to the locked path (transport mismatches: cookie-transport.test.ts)`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    const rotations = spyRotations(ctx);
    const unknown = await refresh(ctx.app, "A".repeat(43));
    t.equal(unknown.statusCode, 401);
    t.equal(unknown.json().error, "invalid_grant");

    // A changed browser family (default policy: revoke) is never rotated by the statement.
    const changed = await refresh(ctx.app, first.refresh_token, { "user-agent": FIREFOX });
    t.equal(changed.statusCode, 401);
    const session = await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedReason, "device_change");
    t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "device_change" } }), 1);
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 1, "no rotation happened");
    t.notOk(rotations.some(Boolean), "the statement rotated nothing");
  });
}

// Postgres only: another connection holds the session's row lock while the
// statement arrives (embedded PGlite runs one statement at a time).
async function sessionAndSecondConnection(t: Teardown) {
  const { url } = await freshPostgres(t);
  const ctx = await testApp(t, "postgres", { storage: { url } });
  const user = await ctx.createUser();
  const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
  const other = new pg.Client({ connectionString: url });
  await other.connect();
  t.teardown(() => other.end());
  return { ctx, first: first as { session_id: string; refresh_token: string }, other };
}

t.test("postgres: a revocation holding the session's lock when the rotation arrives wins", async (t) => {
  const { ctx, first, other } = await sessionAndSecondConnection(t);

  await other.query("BEGIN");
  await other.query("UPDATE sessions SET revoked_at = now(), revoked_reason = 'admin', revoked_by = 'test' WHERE id = $1", [
    first.session_id,
  ]);
  const pending = refresh(ctx.app, first.refresh_token);
  await lockWaiters(other);
  t.equal(await settled(pending), false, "the rotation waits for the session's lock");
  await other.query("COMMIT");
  const res = await pending;

  t.equal(res.statusCode, 401, "the revocation committed first and wins");
  const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
  t.equal(chain.length, 1, "no successor row");
  t.equal(chain[0]!.rotatedAt, null, "the token was not claimed");
  t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "refresh" } }), 0);
});

t.test("postgres: two refreshes queued behind the session's lock: one rotates, the other converges on its successor", async (t) => {
  const { ctx, first, other } = await sessionAndSecondConnection(t);

  // Hold the session's lock, so both refreshes queue behind it and run their statements as it is released.
  await other.query("BEGIN");
  await other.query("SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE", [first.session_id]);
  const rotations = spyRotations(ctx);
  // Two user agents of one device: two flights (refresh-flight.ts coalesces identical requests), both on the fast path.
  const pending = [refresh(ctx.app, first.refresh_token), refresh(ctx.app, first.refresh_token, { "user-agent": `${UA} (second tab)` })];
  await lockWaiters(other, 2);
  await other.query("COMMIT");
  const [a, b] = await Promise.all(pending);

  t.equal(a!.statusCode, 200);
  t.equal(b!.statusCode, 200);
  t.equal(a!.json().refresh_token, b!.json().refresh_token, "one successor");
  t.same([...rotations].sort(), [false, true], "one statement rotated, the other re-checked the claimed token and wrote nothing");
  const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
  t.equal(chain.length, 2, "exactly one successor row");
  t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "refresh" } }), 1);
});
