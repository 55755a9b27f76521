import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";
import { SECOND } from "../fixtures/clock.js";

const refresh = (app: Awaited<ReturnType<typeof testApp>>["app"], token: string) =>
  app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: token } });

for (const mode of MODES) {
  t.test(`${mode}: 50 concurrent refreshes with one token converge on one successor and one live chain`, async (t) => {
    const { app, services, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const first = (await login(user.username, user.password)).json();

    const results = await Promise.all(Array.from({ length: 50 }, () => refresh(app, first.refresh_token)));
    const statuses = results.map((r) => r.statusCode);
    t.notOk(
      statuses.some((s) => s >= 500),
      "no 5xx",
    );
    t.same([...new Set(statuses)], [200], "every concurrent refresh within the grace window succeeds");
    const successors = new Set(results.map((r) => r.json().refresh_token));
    t.equal(successors.size, 1, "every success carries the same successor");
    const [successor] = [...successors] as [string];
    t.not(successor, first.refresh_token);

    const chain = await services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 2, "exactly one successor row was created");
    t.equal(chain.filter((r) => r.rotatedAt === null).length, 1, "exactly one live token in the chain");

    const session = await services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedAt, null, "the session is still alive");
    const onward = await refresh(app, successor);
    t.equal(onward.statusCode, 200, "the converged successor refreshes onward");
  });

  t.test(`${mode}: a retry within the grace window gets the same successor back`, async (t) => {
    const { app, clock, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const first = (await login(user.username, user.password)).json();
    const a = (await refresh(app, first.refresh_token)).json();
    clock.advance(9 * SECOND);
    const b = await refresh(app, first.refresh_token);
    t.equal(b.statusCode, 200);
    t.equal(b.json().refresh_token, a.refresh_token, "same successor, no fork");
    t.not(b.json().access_token, a.access_token, "a fresh access token");
  });

  t.test(`${mode}: a parent replayed in grace after its successor was used gets the chain's live tip`, async (t) => {
    const { app, clock, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const r0 = (await login(user.username, user.password)).json().refresh_token;
    const r1 = (await refresh(app, r0)).json().refresh_token;
    clock.advance(2 * SECOND);
    const r2 = (await refresh(app, r1)).json().refresh_token;
    clock.advance(2 * SECOND);
    const again = await refresh(app, r0);
    t.equal(again.statusCode, 200);
    t.equal(again.json().refresh_token, r2, "the tip, so the chain does not fork");
  });

  t.test(`${mode}: reusing a rotated refresh token after the grace window revokes the session`, async (t) => {
    const { app, services, clock, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const first = (await login(user.username, user.password)).json();
    const second = (await refresh(app, first.refresh_token)).json();
    clock.advance(11 * SECOND);

    const reuse = await refresh(app, first.refresh_token);
    t.equal(reuse.statusCode, 401);
    t.equal(reuse.json().error, "invalid_grant");

    const session = await services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedReason, "refresh_reuse");
    const own = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${second.access_token}` } });
    t.equal(own.statusCode, 401, "the session's access tokens stop working on the service's own endpoints");
    const descendant = await refresh(app, second.refresh_token);
    t.equal(descendant.statusCode, 401, "a descendant token of a revoked family no longer refreshes");
    const events = await services.db.prisma.auditEvent.findMany({ where: { sessionId: first.session_id, type: "refresh_reuse_detected" } });
    t.equal(events.length, 1, "reuse is in the audit log");
  });

  t.test(`${mode}: idle expiry slides with each refresh and is enforced on every check`, async (t) => {
    const { app, clock, createUser, login } = await testApp(t, mode, { env: { REFRESH_TOKEN_TTL: "1h", ACCESS_TOKEN_TTL: "1h" } });
    const user = await createUser();
    const first = (await login(user.username, user.password)).json();
    t.equal(first.refresh_expires_in, 3600);
    clock.advance(50 * 60 * SECOND);
    const second = await refresh(app, first.refresh_token);
    t.equal(second.statusCode, 200, "refreshed before idle expiry");
    t.equal(second.json().refresh_expires_in, 3600, "idle expiry moved to now + REFRESH_TOKEN_TTL");
    clock.advance(61 * 60 * SECOND);
    const access = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${second.json().access_token}` } });
    t.equal(access.statusCode, 401, "an idle-expired session refuses its access token");
    const late = await refresh(app, second.json().refresh_token);
    t.equal(late.statusCode, 401);
    t.equal(late.json().error, "invalid_grant");
  });

  t.test(`${mode}: an access token never outlives the session's idle expiry, a grace replay's neither`, async (t) => {
    const { app, clock, createUser, login } = await testApp(t, mode, {
      env: { REFRESH_TOKEN_TTL: "1h", ACCESS_TOKEN_TTL: "1h", REFRESH_REUSE_GRACE: "10s" },
    });
    const user = await createUser();
    const first = (await login(user.username, user.password)).json();
    clock.advance(10 * 60 * SECOND);
    const rotated = (await refresh(app, first.refresh_token)).json();
    clock.advance(5 * SECOND);
    const replay = await refresh(app, first.refresh_token);
    t.equal(replay.statusCode, 200, "a retry within the grace converges");
    t.equal(replay.json().refresh_token, rotated.refresh_token);
    const exp = JSON.parse(Buffer.from(replay.json().access_token.split(".")[1], "base64url").toString()).exp as number;
    const idleExpiry = Math.floor(clock.now().getTime() / 1000) + replay.json().refresh_expires_in;
    t.ok(exp <= idleExpiry, `exp ${exp} is not past the idle expiry ${idleExpiry}`);
    t.equal(replay.json().expires_in, replay.json().refresh_expires_in, "the access lifetime was cut to the idle expiry");
  });

  t.test(`${mode}: no refresh extends a session past its absolute wall`, async (t) => {
    const { app, clock, createUser, login } = await testApp(t, mode, {
      env: { REFRESH_TOKEN_TTL: "1h", SESSION_MAX_LIFETIME: "3h", ACCESS_TOKEN_TTL: "10m" },
    });
    const user = await createUser();
    let token = (await login(user.username, user.password)).json().refresh_token as string;
    let last: { refresh_expires_in: number; expires_in: number } | undefined;
    for (let i = 0; i < 5; i++) {
      clock.advance(35 * 60 * SECOND); // 35, 70, 105, 140, 175 minutes
      const res = await refresh(app, token);
      t.equal(res.statusCode, 200, `refresh ${i + 1} inside the wall`);
      token = res.json().refresh_token;
      last = res.json();
    }
    t.equal(last!.refresh_expires_in, 5 * 60, "the idle expiry is capped at the wall (5 minutes left)");
    t.equal(last!.expires_in, 5 * 60, "so is the access token");
    clock.advance(6 * 60 * SECOND);
    const past = await refresh(app, token);
    t.equal(past.statusCode, 401, "past the wall the user must log in again");
  });

  t.test(`${mode}: a login beyond MAX_SESSIONS_PER_USER evicts the oldest session`, async (t) => {
    const { app, services, clock, createUser, login } = await testApp(t, mode, { env: { MAX_SESSIONS_PER_USER: "3" } });
    const user = await createUser();
    const sessions = [];
    for (let i = 0; i < 3; i++) {
      sessions.push((await login(user.username, user.password)).json());
      clock.advance(SECOND);
    }
    const fourth = await login(user.username, user.password);
    t.equal(fourth.statusCode, 200, "the new login wins");
    t.same(fourth.json().evicted_session_ids, [sessions[0].session_id], "the answer names the evicted session");
    const oldest = await services.db.prisma.session.findUniqueOrThrow({ where: { id: sessions[0].session_id } });
    t.equal(oldest.revokedReason, "evicted");
    const listed = await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${fourth.json().access_token}` } });
    t.equal(listed.json().sessions.length, 3);
    const audit = await services.db.prisma.auditEvent.findMany({ where: { type: "session_evicted", sessionId: sessions[0].session_id } });
    t.equal(audit.length, 1, "the eviction is in the audit log");
    const evictedRefresh = await refresh(app, sessions[0].refresh_token);
    t.equal(evictedRefresh.statusCode, 401);
  });

  t.test(`${mode}: concurrent logins never exceed the session cap`, async (t) => {
    const { services, createUser, login } = await testApp(t, mode, { env: { MAX_SESSIONS_PER_USER: "2" } });
    const user = await createUser();
    const results = await Promise.all(Array.from({ length: 8 }, () => login(user.username, user.password)));
    t.same([...new Set(results.map((r) => r.statusCode))], [200]);
    const live = await services.db.prisma.session.count({ where: { userId: user.id, revokedAt: null } });
    t.equal(live, 2);
  });
}
