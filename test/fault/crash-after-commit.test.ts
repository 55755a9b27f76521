// SPEC §3 under a fault: a refresh whose rotation committed but whose answer
// never reached the client (the instance died, a proxy dropped the
// connection). The client still holds only the old refresh token and
// retries with it. Within REFRESH_REUSE_GRACE that retry must converge on the
// successor that was committed; after it, the same retry is reuse.
import type { FastifyInstance } from "fastify";
import t from "tap";
import { hashToken } from "../../src/crypto/opaque-token.js";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { SECOND } from "../fixtures/clock.js";
import { rawRequest, type RawAnswer } from "../fixtures/fault-server.js";
import { createClient, type TestClient } from "../fixtures/service-client.js";

const GRACE_MS = 10 * SECOND; // REFRESH_REUSE_GRACE's default

/**
 * Cuts the connection of the next successful POST /refresh after the
 * rotation committed and the answer was serialised, just before it is
 * written: the client sees the connection drop and nothing else.
 */
function crashNextRefreshAnswer(app: FastifyInstance): { arm(): void; lost(): { refresh_token: string; access_token: string } } {
  let armed = false;
  let lost: string | null = null;
  app.addHook("onSend", async (request, reply, payload) => {
    if (armed && request.url === "/refresh" && reply.statusCode === 200) {
      armed = false;
      lost = String(payload);
      request.raw.socket.destroy();
    }
    return payload;
  });
  return {
    arm: () => {
      armed = true;
      lost = null;
    },
    lost: () => {
      if (lost === null) throw new Error("no refresh answer was cut");
      return JSON.parse(lost);
    },
  };
}

async function setup(t: Parameters<typeof testApp>[0], mode: (typeof MODES)[number]) {
  const sa = await testApp(t, mode);
  const crash = crashNextRefreshAnswer(sa.app);
  const base = await sa.app.listen({ host: "127.0.0.1", port: 0 });
  const client = await createClient(sa.services, ["introspect"]);
  const user = await sa.createUser();
  return { sa, crash, base, client, user };
}

const refresh = (base: string, token: string) => rawRequest(base, "POST", "/refresh", { body: { refresh_token: token } });

async function active(sa: TestApp, client: TestClient, token: string): Promise<boolean> {
  const res = await sa.app.inject({ method: "POST", url: "/introspect", headers: { authorization: client.basic }, payload: { token } });
  return res.json().active;
}

/** The rotation chain as the database recorded it: the token row and its one child. */
async function chain(sa: TestApp, token: string) {
  const prisma = sa.services.db.prisma;
  const row = await prisma.refreshToken.findUniqueOrThrow({ where: { tokenHash: Buffer.from(hashToken(token)) } });
  const children = await prisma.refreshToken.findMany({ where: { parentId: row.id } });
  return { row, children };
}

const dropped = (p: Promise<RawAnswer>) =>
  p.then(
    (res) => `answered ${res.statusCode}`,
    (err: NodeJS.ErrnoException) => err.code ?? err.message,
  );

for (const mode of MODES) {
  t.test(
    `${mode}: a refresh answer lost after its commit, retried within the grace window, yields the committed successor and the session lives`,
    { timeout: 60_000 },
    async (t) => {
      const { sa, crash, base, client, user } = await setup(t, mode);
      const login = JSON.parse(
        (await rawRequest(base, "POST", "/login", { body: { username: user.username, password: user.password } })).body,
      );

      crash.arm();
      const outcome = await dropped(refresh(base, login.refresh_token));
      t.match(outcome, /ECONNRESET|socket hang up/, `the client saw the connection drop (${outcome})`);
      const lost = crash.lost();
      const { row, children } = await chain(sa, login.refresh_token);
      t.not(row.rotatedAt, null, "the rotation was committed");
      t.equal(children.length, 1, "with exactly one successor");
      t.same(
        Buffer.from(children[0]!.tokenHash),
        Buffer.from(hashToken(lost.refresh_token)),
        "the lost answer carried that committed successor",
      );

      sa.clock.advance(GRACE_MS / 2);
      const retry = await refresh(base, login.refresh_token);
      t.equal(retry.statusCode, 200, "the retry with the same refresh token succeeds");
      const retried = JSON.parse(retry.body);
      t.equal(retried.refresh_token, lost.refresh_token, "it returns the successor that was committed, not a new one");
      t.equal(retried.session_id, login.session_id, "of the same session");
      t.equal((await chain(sa, login.refresh_token)).children.length, 1, "the chain did not fork");
      t.equal(await active(sa, client, retried.access_token), true, "the retry's access token is active");

      const next = await refresh(base, retried.refresh_token);
      t.equal(next.statusCode, 200, "the successor rotates normally: the session lives on");
      const session = await sa.services.db.prisma.session.findUniqueOrThrow({ where: { id: login.session_id } });
      t.equal(session.revokedAt, null, "the session was never revoked");
    },
  );

  t.test(`${mode}: the same retry after the grace window is reuse and revokes the session`, { timeout: 60_000 }, async (t) => {
    const { sa, crash, base, client, user } = await setup(t, mode);
    const login = JSON.parse(
      (await rawRequest(base, "POST", "/login", { body: { username: user.username, password: user.password } })).body,
    );

    crash.arm();
    await dropped(refresh(base, login.refresh_token));
    const lost = crash.lost();

    sa.clock.advance(GRACE_MS + SECOND);
    const late = await refresh(base, login.refresh_token);
    t.equal(late.statusCode, 401, "the late retry is refused");
    t.equal(JSON.parse(late.body).error, "invalid_grant", "with invalid_grant");
    const session = await sa.services.db.prisma.session.findUniqueOrThrow({ where: { id: login.session_id } });
    t.equal(session.revokedReason, "refresh_reuse", "the session is revoked for refresh reuse");
    t.equal((await refresh(base, lost.refresh_token)).statusCode, 401, "the committed successor is dead too");
    t.equal(await active(sa, client, lost.access_token), false, "and so is the access token of the lost answer");
  });
}
