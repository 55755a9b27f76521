// The optimistic refresh: one unlocked read, then one atomic statement that
// claims the token only while it is unclaimed and its session live. These
// tests put a competitor exactly between the read and the claim (by wrapping
// the store's read), and prove the fast path leaves the same rows as the
// locked path it falls back to.
import t from "tap";
import type { LightMyRequestResponse } from "fastify";
import { openSuccessor } from "../../src/domain/successor.js";
import type { RefreshContext } from "../../src/domain/ports.js";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { SECOND } from "../fixtures/clock.js";

const UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";

const refresh = (app: TestApp["app"], token: string): Promise<LightMyRequestResponse> =>
  app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: token }, headers: { "user-agent": UA } });

/** Runs `between` once, after the next refresh read its snapshot and before it writes. */
function betweenReadAndClaim(ctx: TestApp, between: (read: RefreshContext) => Promise<unknown>): () => void {
  const store = ctx.services.sessionStore;
  const original = store.readRefreshContext;
  let armed = true;
  store.readRefreshContext = async (hash) => {
    const read = await original.call(store, hash);
    if (armed && read) {
      armed = false;
      await between(read);
    }
    return read;
  };
  return () => {
    store.readRefreshContext = original;
  };
}

/** Records what each attempt of the one-statement rotation returned. */
function spyRotations(ctx: TestApp): boolean[] {
  const store = ctx.services.sessionStore;
  const original = store.rotateRefreshToken;
  const outcomes: boolean[] = [];
  store.rotateRefreshToken = async (write) => {
    const outcome = await original.call(store, write);
    outcomes.push(outcome.rotated);
    return outcome;
  };
  return outcomes;
}

const metric = async (ctx: TestApp, name: string): Promise<number> => {
  const body = (await ctx.app.inject({ url: "/metrics" })).body;
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(body);
  return m ? Number(m[1]) : 0;
};

for (const mode of MODES) {
  t.test(`${mode}: a session revoked between the read and the claim: 401, no successor, the token not burnt`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    const rotations = spyRotations(ctx);
    const restore = betweenReadAndClaim(ctx, (read) => ctx.services.revocations.revokeSession(read.session.id, "admin", "system"));
    const res = await refresh(ctx.app, first.refresh_token);
    restore();
    t.same(rotations, [false], "the fast path was tried on the live snapshot and wrote nothing");

    t.equal(res.statusCode, 401);
    t.equal(res.json().error, "invalid_grant");
    t.notOk(res.json().refresh_token, "no token minted");
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 1, "no successor row");
    t.equal(chain[0]!.rotatedAt, null, "the claim did not happen: the revoked session took nothing with it");
    const session = await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedReason, "admin", "the revocation stands");
    t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "refresh" } }), 0, "no refresh audited");
    t.equal(await metric(ctx, "session_authority_refreshes_total"), 0, "no refresh counted");
  });

  t.test(`${mode}: a refresh that loses its claim between read and write converges on the winner's successor`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    let winner: LightMyRequestResponse | undefined;
    const rotations = spyRotations(ctx);
    const restore = betweenReadAndClaim(ctx, async () => {
      winner = await refresh(ctx.app, first.refresh_token);
    });
    const loser = await refresh(ctx.app, first.refresh_token);
    restore();

    t.same(rotations, [true, false], "the winner rotated in one statement; the loser's statement matched nothing");
    t.equal(winner?.statusCode, 200, "the request that came in between rotated");
    t.equal(loser.statusCode, 200, "the one that lost its claim still succeeds (grace window)");
    t.equal(loser.json().refresh_token, winner!.json().refresh_token, "same successor: one chain, no fork");
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 2, "exactly one successor row");
    t.equal(chain.filter((r) => r.rotatedAt === null).length, 1, "one live token");
    t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "refresh" } }), 1, "one rotation audited");
    t.equal(await metric(ctx, "session_authority_refreshes_total"), 1, "one rotation counted");
    t.equal((await refresh(ctx.app, loser.json().refresh_token)).statusCode, 200, "the chain goes on");
  });

  t.test(`${mode}: the one-statement rotation writes the same rows as the locked rotation`, async (t) => {
    const ctx = await testApp(t, mode);
    const { prisma } = ctx.services.db;
    const user = await ctx.createUser();
    const headers = { "user-agent": UA };
    const fastSession = (await ctx.login(user.username, user.password, {}, headers)).json();
    const lockedSession = (await ctx.login(user.username, user.password, {}, headers)).json();
    ctx.clock.advance(30 * SECOND);

    const fast = await refresh(ctx.app, fastSession.refresh_token);
    // Force the locked path: the atomic statement reports a lost claim without writing anything.
    const store = ctx.services.sessionStore;
    const rotate = store.rotateRefreshToken;
    let forced = 0;
    store.rotateRefreshToken = async () => (forced++, { rotated: false });
    const locked = await refresh(ctx.app, lockedSession.refresh_token);
    store.rotateRefreshToken = rotate;
    t.equal(forced, 1, "the second refresh tried the fast path and fell back");
    t.equal(fast.statusCode, 200);
    t.equal(locked.statusCode, 200);
    t.same(
      { ...fast.json(), access_token: "", refresh_token: "", session_id: "" },
      { ...locked.json(), access_token: "", refresh_token: "", session_id: "" },
      "same answer",
    );

    const rowsOf = async (sessionId: string, presented: string, successor: string) => {
      const { id, ...session } = await prisma.session.findUniqueOrThrow({ where: { id: sessionId } });
      const [parent, child, ...rest] = await prisma.refreshToken.findMany({ where: { sessionId }, orderBy: { createdAt: "asc" } });
      t.equal(rest.length, 0);
      t.equal(openSuccessor(presented, parent!.id, parent!.successorSealed!), successor, "the parent's sealed successor opens to the answer's token");
      t.equal(child!.parentId, parent!.id);
      const strip = (r: typeof parent) => {
        const { id: _id, sessionId: _s, tokenHash: _h, parentId: _p, successorSealed, ...rest } = r!;
        return { ...rest, sealed: successorSealed !== null };
      };
      const audit = (await prisma.auditEvent.findMany({ where: { sessionId, type: "refresh" } })).map(({ id: _id, sessionId: _s, detail, ...e }) => {
        t.same(detail, { token_id: parent!.id });
        return e;
      });
      return { session, parent: strip(parent), child: strip(child), audit };
    };
    const a = await rowsOf(fastSession.session_id, fastSession.refresh_token, fast.json().refresh_token);
    const b = await rowsOf(lockedSession.session_id, lockedSession.refresh_token, locked.json().refresh_token);
    t.same(a, b, "session columns, both chain rows and the audit event are identical");
    t.equal(a.audit.length, 1);
    t.equal(a.session.userAgent, UA);
    t.equal(a.session.uaBrowser, "Chrome");
  });

  t.test(`${mode}: refreshes racing a logout: no 5xx, no token after the revocation refreshes, one chain`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    const logout = ctx.app.inject({ method: "POST", url: "/logout", headers: { authorization: `Bearer ${first.access_token}` } });
    const results = await Promise.all([...Array.from({ length: 20 }, () => refresh(ctx.app, first.refresh_token)), logout]);
    const statuses = results.map((r) => r.statusCode);
    t.notOk(statuses.some((s) => s >= 500), `no 5xx (${statuses.join(",")})`);
    t.equal(statuses.at(-1), 204, "the logout answered");
    const successors = new Set(results.slice(0, -1).filter((r) => r.statusCode === 200).map((r) => r.json().refresh_token as string));
    t.ok(successors.size <= 1, "at most one successor was handed out");
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.ok(chain.length <= 2, "at most one successor row");
    const session = await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedReason, "logout");
    for (const token of [first.refresh_token, ...successors]) {
      t.equal((await refresh(ctx.app, token)).statusCode, 401, "nothing of the revoked session refreshes afterwards");
    }
  });

  t.test(`${mode}: the fast path leaves device changes, replays and unknown tokens to the locked path unchanged`, async (t) => {
    const ctx = await testApp(t, mode);
    const user = await ctx.createUser();
    const first = (await ctx.login(user.username, user.password, {}, { "user-agent": UA })).json();
    const unknown = await refresh(ctx.app, "A".repeat(43));
    t.equal(unknown.statusCode, 401);
    t.equal(unknown.json().error, "invalid_grant");

    // A changed browser family (default policy: revoke) is never rotated optimistically.
    const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const changed = await ctx.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: first.refresh_token }, headers: { "user-agent": firefox } });
    t.equal(changed.statusCode, 401);
    const session = await ctx.services.db.prisma.session.findUniqueOrThrow({ where: { id: first.session_id } });
    t.equal(session.revokedReason, "device_change");
    t.equal(await ctx.services.db.prisma.auditEvent.count({ where: { sessionId: first.session_id, type: "device_change" } }), 1);
    const chain = await ctx.services.db.prisma.refreshToken.findMany({ where: { sessionId: first.session_id } });
    t.equal(chain.length, 1, "no rotation happened");
  });
}
