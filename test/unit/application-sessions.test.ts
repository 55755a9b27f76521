import t from "tap";
import { type Application, type ApplicationPolicy, sessionLifetimeColumns } from "../../src/domain/applications.js";
import { AppError } from "../../src/domain/errors.js";
import { admitApplication, assertApplicationAdmits, newSessionWrite } from "../../src/domain/new-session.js";
import { sessionLifetimes, slidingExpiries } from "../../src/domain/session-policy.js";
import { DAY, HOUR, MINUTE, SECOND } from "../fixtures/clock.js";

const DEFAULTS: ApplicationPolicy = {
  accessTokenTtlMs: 10 * MINUTE,
  refreshTokenTtlMs: 7 * DAY,
  sessionMaxLifetimeMs: 30 * DAY,
  maxSessionsPerUser: 10,
  onLimit: "evict_oldest",
  refreshReuseGraceMs: 10 * SECOND,
  deviceChangePolicy: "default",
};

const app = (over: Partial<Application> = {}): Application => ({
  id: "web",
  name: "Web",
  transports: ["bearer", "cookie"],
  origins: [],
  policy: {},
  createdAt: new Date(0),
  updatedAt: new Date(0),
  ...over,
});

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? `${err.status} ${err.code}` : "other";
  }
  return undefined;
};

t.test("a session slides by its own lifetimes, else the service-wide ones", async (t) => {
  t.same(sessionLifetimes({ accessTtlMs: null, idleTtlMs: null }, DEFAULTS), { accessTokenTtlMs: 10 * MINUTE, refreshTokenTtlMs: 7 * DAY });
  t.same(sessionLifetimes({ accessTtlMs: 2 * MINUTE, idleTtlMs: HOUR }, DEFAULTS), {
    accessTokenTtlMs: 2 * MINUTE,
    refreshTokenTtlMs: HOUR,
  });
  t.same(sessionLifetimes({ accessTtlMs: null, idleTtlMs: HOUR }, DEFAULTS), { accessTokenTtlMs: 10 * MINUTE, refreshTokenTtlMs: HOUR });
  const now = new Date("2026-01-01T00:00:00Z");
  const wall = new Date(now.getTime() + 30 * MINUTE);
  const e = slidingExpiries(wall, now, sessionLifetimes({ accessTtlMs: 2 * MINUTE, idleTtlMs: HOUR }, DEFAULTS));
  t.equal(e.idleExpiresAt.getTime(), wall.getTime(), "the idle expiry stops at the wall");
  t.equal(e.accessExpiresAt.getTime(), now.getTime() + 2 * MINUTE);
});

t.test("a new session carries the application's own lifetimes, null where it follows the service", async (t) => {
  t.same(sessionLifetimeColumns({}), { accessTtlMs: null, idleTtlMs: null });
  t.same(sessionLifetimeColumns({ accessTokenTtlMs: null, refreshTokenTtlMs: HOUR, maxSessionsPerUser: 2 }), {
    accessTtlMs: null,
    idleTtlMs: HOUR,
  });
  t.same(sessionLifetimeColumns({ accessTokenTtlMs: MINUTE }), { accessTtlMs: MINUTE, idleTtlMs: null });
});

t.test("an unknown application is invalid_client, a transport it does not allow invalid_request", async (t) => {
  t.equal(
    codeOf(() => assertApplicationAdmits(undefined, "bearer")),
    "401 invalid_client",
  );
  t.equal(
    codeOf(() => admitApplication(null, "bearer", DEFAULTS)),
    "401 invalid_client",
  );
  t.equal(
    codeOf(() => admitApplication(app({ transports: ["bearer"] }), "cookie", DEFAULTS)),
    "400 invalid_request",
  );
  t.equal(
    codeOf(() => admitApplication(app({ transports: ["bearer"] }), "bearer", DEFAULTS)),
    undefined,
  );
  t.same(admitApplication(app({ policy: { maxSessionsPerUser: 2, onLimit: "deny", refreshReuseGraceMs: null } }), "bearer", DEFAULTS), {
    ...DEFAULTS,
    maxSessionsPerUser: 2,
    onLimit: "deny",
  });
});

t.test("a new session's write follows the application's policy", async (t) => {
  const now = new Date("2026-01-01T00:00:00Z");
  const application = app({ id: "ios", policy: { accessTokenTtlMs: 2 * MINUTE, refreshTokenTtlMs: HOUR, sessionMaxLifetimeMs: DAY } });
  const policy = admitApplication(application, "bearer", DEFAULTS);
  const request = {
    transport: "bearer" as const,
    authentication: { authTime: now, amr: ["pwd"], acr: null },
    sessionClaims: { tenant: "t1" },
    ctx: { ip: "203.0.113.1", userAgent: "ua" },
    device: { browser: "Firefox", os: "Linux", type: "desktop" },
    refreshToken: "opaque",
    event: { type: "login_success", actor: "user:u1" },
  };
  const w = newSessionWrite(request, { id: "u1", claims: { role: "viewer", tenant: "t0" } }, application, policy, now, ["old"]);
  t.match(w.session, { userId: "u1", clientId: "ios", accessTtlMs: 2 * MINUTE, idleTtlMs: HOUR, createdAt: now });
  t.same(w.session.claims, { role: "viewer", tenant: "t1" }, "the user's claims, the session's winning a conflict");
  t.same(w.session.authentication.amr, ["pwd"]);
  t.equal(w.session.absoluteExpiresAt.getTime(), now.getTime() + DAY, "created + the application's maximum lifetime");
  t.equal(w.session.idleExpiresAt.getTime(), now.getTime() + HOUR);
  t.equal(w.session.accessExpiresAt.getTime(), now.getTime() + 2 * MINUTE);
  t.equal(w.refreshToken.expiresAt.getTime(), w.session.idleExpiresAt.getTime(), "the first refresh token expires with the idle expiry");
  t.equal(w.maxLive, 10, "the service-wide limit where the application sets none");
  t.same(w.audit.detail, { transport: "bearer", evicted: ["old"], client_id: "ios" });
  t.not(Buffer.from(w.refreshToken.hash).toString("utf8"), "opaque", "only the hash is written");
});
