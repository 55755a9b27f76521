import t from "tap";
import { MODES, testApp } from "../fixtures/app.js";

const CHROME_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const FIREFOX_MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:121.0) Gecko/20100101 Firefox/121.0";
const CHROME_ANDROID =
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36";

for (const mode of MODES) {
  t.test(`${mode}: list, end one, end all others, log out everywhere`, async (t) => {
    const { app, services, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const other = await createUser();
    const a = (await login(user.username, user.password, {}, { "user-agent": CHROME_MAC })).json();
    const b = (await login(user.username, user.password)).json();
    const c = (await login(user.username, user.password)).json();
    const stranger = (await login(other.username, other.password)).json();
    const auth = (tok: { access_token: string }) => ({ authorization: `Bearer ${tok.access_token}` });

    const list = (await app.inject({ url: "/sessions", headers: auth(a) })).json().sessions;
    t.equal(list.length, 3);
    const mine = list.find((s: { id: string }) => s.id === a.session_id);
    t.match(mine, { current: true, device: { browser: "Chrome", os: "Mac OS", type: "desktop" }, last_ip: "127.0.0.1" });

    const foreign = await app.inject({ method: "DELETE", url: `/sessions/${stranger.session_id}`, headers: auth(a) });
    t.equal(foreign.statusCode, 404, "someone else's session is not found");
    const notUuid = await app.inject({ method: "DELETE", url: "/sessions/not-a-uuid", headers: auth(a) });
    t.equal(notUuid.statusCode, 400);

    t.equal((await app.inject({ method: "DELETE", url: `/sessions/${b.session_id}`, headers: auth(a) })).statusCode, 204);
    t.equal((await app.inject({ url: "/sessions", headers: auth(b) })).statusCode, 401, "the ended session's token is dead");

    t.equal((await app.inject({ method: "DELETE", url: "/sessions", headers: auth(a) })).statusCode, 400, "except=current is required");
    t.equal((await app.inject({ method: "DELETE", url: "/sessions?except=current", headers: auth(a) })).statusCode, 204);
    t.equal((await app.inject({ url: "/sessions", headers: auth(c) })).statusCode, 401, "other sessions ended");
    const remaining = (await app.inject({ url: "/sessions", headers: auth(a) })).json().sessions;
    t.same(
      remaining.map((s: { id: string }) => s.id),
      [a.session_id],
      "the current one survives",
    );

    const d = (await login(user.username, user.password)).json();
    const everywhere = await app.inject({ method: "POST", url: "/logout", headers: auth(a), payload: { all: true } });
    t.equal(everywhere.statusCode, 204);
    for (const s of [a, d]) t.equal((await app.inject({ url: "/sessions", headers: auth(s) })).statusCode, 401);
    const entries = await services.db.prisma.revocation.findMany({ where: { kind: "sub", subject: user.id } });
    t.equal(entries.length, 1, "logout everywhere is one user-wide entry, not one per token");
    t.equal((await app.inject({ url: "/sessions", headers: auth(stranger) })).statusCode, 200, "other users are untouched");

    const fresh = await login(user.username, user.password);
    t.equal((await app.inject({ url: "/sessions", headers: auth(fresh.json()) })).statusCode, 200, "a login right after logout-all works");
  });

  t.test(`${mode}: a changed browser family revokes the session under the default policy`, async (t) => {
    const { app, services, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const s = (await login(user.username, user.password, {}, { "user-agent": CHROME_MAC })).json();
    const res = await app.inject({
      method: "POST",
      url: "/refresh",
      payload: { refresh_token: s.refresh_token },
      headers: { "user-agent": FIREFOX_MAC },
    });
    t.equal(res.statusCode, 401);
    t.equal(res.json().error, "invalid_grant");
    const row = await services.db.prisma.session.findUniqueOrThrow({ where: { id: s.session_id } });
    t.equal(row.revokedReason, "device_change");
    const audit = await services.db.prisma.auditEvent.findFirstOrThrow({ where: { sessionId: s.session_id, type: "device_change" } });
    t.match(audit.detail, { changes: ["browser"], action: "revoke" });
  });

  t.test(`${mode}: under DEVICE_CHANGE_POLICY=flag the session stays alive and is marked`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode, { env: { DEVICE_CHANGE_POLICY: "flag" } });
    const user = await createUser();
    const s = (await login(user.username, user.password, {}, { "user-agent": CHROME_MAC })).json();
    const res = await app.inject({
      method: "POST",
      url: "/refresh",
      payload: { refresh_token: s.refresh_token },
      headers: { "user-agent": CHROME_ANDROID },
    });
    t.equal(res.statusCode, 200);
    const listed = (await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${res.json().access_token}` } })).json()
      .sessions[0];
    t.match(listed, { device_flagged: true, device: { os: "Android", type: "mobile" } });
    t.ok(listed.device_score > 0, "the change is scored");
  });

  t.test(`${mode}: the same device refreshing raises no flag`, async (t) => {
    const { app, createUser, login } = await testApp(t, mode);
    const user = await createUser();
    const s = (await login(user.username, user.password, {}, { "user-agent": CHROME_MAC })).json();
    const res = await app.inject({
      method: "POST",
      url: "/refresh",
      payload: { refresh_token: s.refresh_token },
      headers: { "user-agent": CHROME_MAC },
    });
    t.equal(res.statusCode, 200);
    const listed = (await app.inject({ url: "/sessions", headers: { authorization: `Bearer ${res.json().access_token}` } })).json()
      .sessions[0];
    t.match(listed, { device_flagged: false, device_score: 0 });
  });
}
