import t from "tap";
import { deriveKey, seal } from "../../src/crypto/seal.js";
import { assessDeviceChange } from "../../src/domain/device.js";
import { decideRefresh } from "../../src/domain/refresh-decision.js";
import { initialExpiries, sessionState, slidingExpiries } from "../../src/domain/session-policy.js";
import { openSuccessor, sealSuccessor } from "../../src/domain/successor.js";
import { DAY, HOUR, MINUTE, SECOND } from "../fixtures/clock.js";

const policy = { accessTokenTtlMs: 10 * MINUTE, refreshTokenTtlMs: 7 * DAY, sessionMaxLifetimeMs: 30 * DAY };
const t0 = new Date("2026-01-01T00:00:00Z");
const at = (ms: number) => new Date(t0.getTime() + ms);

t.test("refresh decision", async (t) => {
  const live = { rotatedAt: null, expiresAt: at(HOUR), successorSealed: null };
  t.same(decideRefresh(live, at(0), at(0), 10 * SECOND), { action: "rotate" }, "an unused token rotates");
  t.same(
    decideRefresh(live, at(HOUR), at(HOUR), 10 * SECOND),
    { action: "expired" },
    "an unused token past its expiry is refused, not treated as theft",
  );
  const rotated = { rotatedAt: at(0), expiresAt: at(HOUR), successorSealed: new Uint8Array([1]) };
  t.same(decideRefresh(rotated, at(10 * SECOND), at(10 * SECOND), 10 * SECOND), { action: "replay" }, "within the grace window: replay");
  t.same(decideRefresh(rotated, at(10 * SECOND + 1), at(10 * SECOND + 1), 10 * SECOND), { action: "reuse" }, "after it: reuse");
  t.same(
    decideRefresh({ ...rotated, successorSealed: null }, at(SECOND), at(SECOND), 10 * SECOND),
    { action: "reuse" },
    "no sealed successor: reuse",
  );
  t.same(decideRefresh(rotated, at(0), at(0), 0), { action: "replay" }, "a zero grace still covers the same instant");
  t.same(
    decideRefresh(rotated, at(HOUR), at(10 * SECOND), 10 * SECOND),
    { action: "replay" },
    "the grace is measured to the arrival, not to the processing",
  );
  t.same(
    decideRefresh(rotated, at(HOUR), at(-SECOND), 10 * SECOND),
    { action: "replay" },
    "a request that arrived before the rotation is inside the grace",
  );
  t.same(
    decideRefresh(rotated, at(11 * SECOND), at(11 * SECOND), 10 * SECOND),
    { action: "reuse" },
    "a retry that arrived after the grace is reuse",
  );
});

t.test("session state is a pure function of the row and the time", async (t) => {
  const e = initialExpiries(t0, policy);
  const s = { revokedAt: null, ...e };
  t.equal(sessionState(s, at(0)), "live");
  t.equal(sessionState(s, at(7 * DAY)), "idle_expired");
  t.equal(sessionState({ ...s, idleExpiresAt: at(40 * DAY) }, at(30 * DAY)), "absolute_expired");
  t.equal(sessionState({ ...s, revokedAt: at(0) }, at(0)), "revoked");
  const late = slidingExpiries(e.absoluteExpiresAt, at(29 * DAY + 23 * HOUR + 55 * MINUTE), policy);
  t.same(late.idleExpiresAt, e.absoluteExpiresAt, "idle expiry never passes the wall");
  t.same(late.accessExpiresAt, e.absoluteExpiresAt, "nor does an access token");
});

t.test("device change scoring", async (t) => {
  const mac = { device: { browser: "Chrome", os: "Mac OS", type: "desktop" }, ip: "10.0.0.1" };
  t.match(assessDeviceChange(mac, mac, "default"), { score: 0, changes: [], action: "allow" });
  t.match(assessDeviceChange(mac, { ...mac, device: { ...mac.device, browser: "Firefox" } }, "default"), {
    changes: ["browser"],
    action: "revoke",
  });
  t.match(assessDeviceChange(mac, { ...mac, device: { ...mac.device, os: "Windows" } }, "default"), { changes: ["os"], action: "revoke" });
  t.match(assessDeviceChange(mac, { ...mac, ip: "10.0.0.2" }, "default"), { changes: ["ip"], action: "flag" });
  t.match(assessDeviceChange(mac, { ...mac, device: { ...mac.device, browser: "Firefox" } }, "allow"), { action: "allow" });
  t.match(assessDeviceChange(mac, { ...mac, ip: "10.0.0.2" }, "revoke"), { action: "revoke" });
  t.match(
    assessDeviceChange(mac, { device: { browser: null, os: null, type: null }, ip: null }, "default"),
    { changes: [], action: "allow" },
    "a missing user agent is no evidence of a change",
  );
});

t.test("a sealed successor opens only with its parent token", async (t) => {
  const sealed = sealSuccessor("parent-token", "successor-token");
  t.equal(openSuccessor("parent-token", "id-1", sealed), "successor-token");
  t.equal(openSuccessor("another-token", "id-1", sealed), null);
  t.equal(
    openSuccessor("parent-token", "id-2", sealed),
    "successor-token",
    "the key binds it, not the row id (the one statement seals before it knows the row)",
  );
  const tampered = Buffer.from(sealed);
  const last = tampered.length - 1;
  tampered.writeUInt8(tampered.readUInt8(last) ^ 1, last);
  t.equal(openSuccessor("parent-token", "id-1", tampered), null, "a tampered value does not open");
});

t.test("a successor sealed by the previous release (bound to the parent's row id) still opens with that id", async (t) => {
  const legacy = seal(deriveKey("parent-token", "refresh-successor"), Buffer.from("successor-token"), "id-1");
  t.equal(openSuccessor("parent-token", "id-1", legacy), "successor-token");
  t.equal(openSuccessor("parent-token", "id-2", legacy), null, "bound to the row it was sealed for");
  t.equal(openSuccessor("another-token", "id-1", legacy), null);
});
