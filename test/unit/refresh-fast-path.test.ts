import t from "tap";
import { hashToken } from "../../src/crypto/opaque-token.js";
import { planFastRotation } from "../../src/domain/refresh-fast-path.js";
import { openSuccessor } from "../../src/domain/successor.js";
import { DAY, MINUTE } from "../fixtures/clock.js";

const policy = { accessTokenTtlMs: 10 * MINUTE, refreshTokenTtlMs: 7 * DAY };
const now = new Date("2026-01-01T12:00:00Z");
const device = { browser: "Chrome", os: "Linux", type: "desktop" };

t.test("the direct rotation carries the request as given, the service-wide lifetimes and a sealed successor", async (t) => {
  const plan = planFastRotation("presented", "cookie", { ip: "203.0.113.7", userAgent: "Chrome on Linux" }, device, now, policy);
  const w = plan.write;
  t.same(Buffer.from(w.tokenHash), Buffer.from(hashToken("presented")), "the presented token is found by its hash");
  t.equal(w.transport, "cookie");
  t.equal(w.ip, "203.0.113.7");
  t.equal(w.userAgent, "Chrome on Linux");
  t.same(w.device, device);
  t.same(w.defaults, policy, "a session without lifetimes of its own slides by REFRESH_TOKEN_TTL and ACCESS_TOKEN_TTL");
  t.equal(openSuccessor("presented", "any-id", w.successorSealed), plan.successor, "the successor is sealed under the presented token");
  t.equal(openSuccessor("another", "any-id", w.successorSealed), null);
  t.same(Buffer.from(w.successor.hash), Buffer.from(hashToken(plan.successor)), "the successor row stores the successor's hash");
  t.match(w.successor.id, /^[0-9a-f-]{36}$/);
  t.not(plan.successor, "presented");
});

t.test("every plan has its own successor", async (t) => {
  const ctx = { ip: null, userAgent: null };
  const a = planFastRotation("presented", "bearer", ctx, device, now, policy);
  const b = planFastRotation("presented", "bearer", ctx, device, now, policy);
  t.not(a.successor, b.successor);
  t.not(a.write.successor.id, b.write.successor.id);
  t.equal(a.write.userAgent, null, "no user agent stays unknown");
});
