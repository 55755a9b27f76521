import t from "tap";
import { planFastRotation } from "../../src/domain/fast-rotation.js";
import type { RefreshContext } from "../../src/domain/ports.js";
import { openSuccessor } from "../../src/domain/successor.js";
import { DAY, HOUR, MINUTE, SECOND } from "../fixtures/clock.js";

const policy = {
  accessTokenTtlMs: 10 * MINUTE,
  refreshTokenTtlMs: 7 * DAY,
  sessionMaxLifetimeMs: 30 * DAY,
  refreshReuseGraceMs: 10 * SECOND,
  deviceChangePolicy: "default" as const,
};
const now = new Date("2026-01-01T12:00:00Z");
const device = { browser: "Chrome", os: "Linux", type: "desktop" };
const ctx = { ip: "203.0.113.7", userAgent: "Chrome on Linux" };

function read(over: { token?: Partial<RefreshContext["token"]>; session?: Partial<RefreshContext["session"]> } = {}): RefreshContext {
  return {
    token: { id: "t1", sessionId: "s1", expiresAt: new Date(now.getTime() + HOUR), rotatedAt: null, successorSealed: null, ...over.token },
    session: {
      id: "s1", userId: "u1", transport: "bearer", idleExpiresAt: new Date(now.getTime() + HOUR), absoluteExpiresAt: new Date(now.getTime() + 2 * DAY),
      revokedAt: null, lastIp: ctx.ip, userAgent: ctx.userAgent, device, ...over.session,
    },
  };
}

t.test("only the ordinary rotation is planned; everything else is left to the locked path", async (t) => {
  const plan = planFastRotation(read(), "presented", "bearer", ctx, device, now, policy);
  t.ok(plan, "first use of a live token, same device and IP");
  t.equal(plan!.write.tokenId, "t1");
  t.equal(plan!.write.sessionId, "s1");
  t.equal(plan!.write.session.idleExpiresAt.getTime(), now.getTime() + 2 * DAY, "idle expiry slides to now + 7 d, capped at the wall two days out");
  t.equal(plan!.write.session.accessExpiresAt.getTime(), now.getTime() + 10 * MINUTE);
  t.equal(openSuccessor("presented", "t1", plan!.write.successorSealed), plan!.successor, "the successor is sealed under the presented token");
  t.same(plan!.write.audit, { type: "refresh", actor: "user:u1", userId: "u1", sessionId: "s1", ip: ctx.ip, userAgent: ctx.userAgent, detail: { token_id: "t1" } });
  t.equal(plan!.session.idleExpiresAt, plan!.write.session.idleExpiresAt, "the answer reflects the write");

  const none = (what: string, r: RefreshContext, transport: "bearer" | "cookie" = "bearer", c = ctx, d = device) =>
    t.equal(planFastRotation(r, "presented", transport, c, d, now, policy), null, what);
  none("transport mismatch", read(), "cookie");
  none("revoked session", read({ session: { revokedAt: now } }));
  none("idle-expired session", read({ session: { idleExpiresAt: now } }));
  none("session past its wall", read({ session: { absoluteExpiresAt: now } }));
  none("expired token", read({ token: { expiresAt: now } }));
  none("rotated token within grace (replay)", read({ token: { rotatedAt: now, successorSealed: new Uint8Array([1]) } }));
  none("rotated token after grace (reuse)", read({ token: { rotatedAt: new Date(now.getTime() - MINUTE) } }));
  none("changed IP (flag)", read(), "bearer", { ...ctx, ip: "198.51.100.1" });
  none("changed browser (revoke)", read(), "bearer", ctx, { ...device, browser: "Firefox" });
  none("changed device type", read(), "bearer", ctx, { ...device, type: "mobile" });
});

t.test("a request without a user agent keeps the stored one", async (t) => {
  const noUa = { ip: ctx.ip, userAgent: null };
  const plan = planFastRotation(read(), "presented", "bearer", noUa, { browser: null, os: null, type: null }, now, policy);
  t.ok(plan, "unknown device is no evidence of a change");
  t.equal(plan!.write.session.userAgent, null, "null keeps the stored user agent");
  t.equal(plan!.write.session.device, null, "and the stored device");
});
