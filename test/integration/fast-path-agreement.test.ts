// The fast path's preconditions exist three times: as SQL in the one
// statement, as TypeScript beside each fragment (FAST_PATH_PRECONDITIONS),
// and as the domain rules the locked path applies. On random rows, the
// statement rotates exactly when every precondition holds, and that is
// exactly when the locked path would rotate with no device change; and the
// expiries it writes are the domain's (sessionLifetimes, slidingExpiries)
// for the session's own lifetimes or the service-wide ones.
import fc from "fast-check";
import t from "tap";
import { randomBytes, randomUUID } from "node:crypto";
import { assessDeviceChange } from "../../src/domain/device.js";
import { decideRefresh } from "../../src/domain/refresh-decision.js";
import { sessionLifetimes, sessionState, slidingExpiries } from "../../src/domain/session-policy.js";
import type { Database } from "../../src/storage/database.js";
import { fastPathApplies, rotateFast, type FastPathCase } from "../../src/storage/sessions/fast-path-sql.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";

const NOW = new Date("2026-06-01T12:00:00.000Z");
const at = (ms: number) => new Date(NOW.getTime() + ms);
/** Mostly `good`, sometimes `bad`: every precondition holds often, and each fails alone often. */
const mostly = <T>(good: fc.Arbitrary<T>, bad: fc.Arbitrary<T>) => fc.oneof({ weight: 6, arbitrary: good }, { weight: 1, arbitrary: bad });
const future = fc.oneof(fc.constant(1), fc.integer({ min: 2, max: 86_400_000 })).map(at);
const pastOrNow = fc.oneof(fc.constantFrom(0, -1), fc.integer({ min: -86_400_000, max: -2 })).map(at);
const maybe = (values: string[]) => fc.option(fc.constantFrom(...values), { nil: null });
/** A stored value against the presented one: the same, unknown, or another. */
const stored = (presented: string | null, others: string[]) =>
  mostly(fc.oneof(fc.constant(presented), fc.constant(null)), fc.constantFrom(...others, presented ?? others[0]!));
const transport = fc.constantFrom("bearer" as const, "cookie" as const);

const fastPathCase: fc.Arbitrary<FastPathCase> = fc
  .record({
    transport,
    ip: maybe(["203.0.113.1", "198.51.100.2"]),
    device: fc.record({ browser: maybe(["Chrome", "Firefox"]), os: maybe(["Linux", "iOS"]), type: maybe(["desktop", "mobile"]) }),
  })
  .chain((request) =>
    fc.record({
      session: fc.record({
        revokedAt: mostly(fc.constant(null), fc.oneof(pastOrNow, future)),
        idleExpiresAt: mostly(future, pastOrNow),
        absoluteExpiresAt: mostly(future, pastOrNow),
        transport: mostly(fc.constant(request.transport), transport),
        lastIp: stored(request.ip, ["203.0.113.1", "198.51.100.2"]),
        device: fc.record({
          browser: stored(request.device.browser, ["Chrome", "Firefox"]),
          os: stored(request.device.os, ["Linux", "iOS"]),
          type: stored(request.device.type, ["desktop", "mobile"]),
        }),
      }),
      token: fc.record({ rotatedAt: mostly(fc.constant(null), fc.oneof(pastOrNow, future)), expiresAt: mostly(future, pastOrNow) }),
      request: fc.constant({ now: NOW, ...request }),
    }),
  );

/** What the locked path decides on the same rows: rotate, on a live session of the transport, with no device change. */
function lockedPathRotatesUnchanged(c: FastPathCase): boolean {
  const { session, token, request } = c;
  const live = sessionState(session, request.now) === "live";
  const rotate = decideRefresh({ ...token, successorSealed: null }, request.now, request.now, 10_000).action === "rotate";
  const change = assessDeviceChange({ device: session.device, ip: session.lastIp }, { device: request.device, ip: request.ip }, "default");
  return live && rotate && session.transport === request.transport && change.changes.length === 0;
}

t.test("the precondition list states the domain's rules", async (t) => {
  fc.assert(
    fc.property(fastPathCase, (c) => fastPathApplies(c) === lockedPathRotatesUnchanged(c)),
    { numRuns: 20_000 },
  );
  t.pass("20 000 random cases agree");
});

/** A session's own lifetimes (an application's), or none: the service-wide ones. */
interface Lifetimes {
  accessTtlMs: number | null;
  idleTtlMs: number | null;
}
const lifetimes: fc.Arbitrary<Lifetimes> = fc.record({
  accessTtlMs: fc.option(fc.integer({ min: 1000, max: 3_600_000 }), { nil: null }),
  idleTtlMs: fc.option(fc.integer({ min: 1000, max: 30 * 86_400_000 }), { nil: null }),
});
const DEFAULTS = { accessTokenTtlMs: 600_000, refreshTokenTtlMs: 3_600_000 };

async function insertCase(db: Database, c: FastPathCase, own: Lifetimes): Promise<Uint8Array> {
  const userId = randomUUID();
  const sessionId = randomUUID();
  const hash = randomBytes(32);
  const s = c.session;
  await db.prisma.user.create({ data: { id: userId, username: userId, usernameKey: userId, passwordHash: "x" } });
  await db.prisma.session.create({
    data: {
      id: sessionId,
      userId,
      transport: s.transport,
      createdAt: at(-3_600_000),
      lastSeenAt: at(-60_000),
      idleExpiresAt: s.idleExpiresAt,
      absoluteExpiresAt: s.absoluteExpiresAt,
      accessExpiresAt: at(-1),
      lastIp: s.lastIp,
      uaBrowser: s.device.browser,
      uaOs: s.device.os,
      uaDevice: s.device.type,
      revokedAt: s.revokedAt,
      revokedReason: s.revokedAt ? "admin" : null,
      accessTtlMs: own.accessTtlMs === null ? null : BigInt(own.accessTtlMs),
      idleTtlMs: own.idleTtlMs === null ? null : BigInt(own.idleTtlMs),
    },
  });
  await db.prisma.refreshToken.create({
    data: {
      id: randomUUID(),
      sessionId,
      tokenHash: hash,
      createdAt: at(-60_000),
      expiresAt: c.token.expiresAt,
      rotatedAt: c.token.rotatedAt,
    },
  });
  return hash;
}

for (const mode of ["postgres", "embedded"] as const) {
  t.test(`${mode}: the statement rotates exactly when every precondition holds`, async (t) => {
    const { db } = mode === "postgres" ? await freshPostgres(t) : await freshEmbedded(t);
    let rotated = 0;
    await fc.assert(
      fc.asyncProperty(fastPathCase, lifetimes, async (c, own) => {
        const tokenHash = await insertCase(db, c, own);
        const outcome = await rotateFast(db.sql, {
          now: c.request.now,
          tokenHash,
          transport: c.request.transport,
          ip: c.request.ip,
          userAgent: c.request.device.browser ? `${c.request.device.browser} on ${c.request.device.os}` : null,
          device: c.request.device,
          defaults: DEFAULTS,
          successorSealed: randomBytes(48),
          successor: { id: randomUUID(), hash: randomBytes(32) },
        });
        if ((outcome !== null) !== fastPathApplies(c)) return false;
        if (!outcome) return true;
        rotated++;
        const want = slidingExpiries(c.session.absoluteExpiresAt, c.request.now, sessionLifetimes(own, DEFAULTS));
        return (
          outcome.session.idleExpiresAt.getTime() === want.idleExpiresAt.getTime() &&
          outcome.session.accessExpiresAt.getTime() === want.accessExpiresAt.getTime()
        );
      }),
      { numRuns: mode === "postgres" ? 400 : 150 },
    );
    t.ok(rotated > 20, `${rotated} cases rotated, the rest did not: both outcomes were tried`);
  });
}
