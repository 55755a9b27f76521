import t from "tap";
import { ConfigError, loadConfig } from "../../src/config.js";
import { parseDuration } from "../../src/lib/duration.js";

t.test("durations take seconds or a unit", async (t) => {
  t.equal(parseDuration("600"), 600_000);
  t.equal(parseDuration("500ms"), 500);
  t.equal(parseDuration("10s"), 10_000);
  t.equal(parseDuration("15m"), 900_000);
  t.equal(parseDuration("7d"), 604_800_000);
  for (const bad of ["", "ten", "10x", "-5s", "1e3"]) t.equal(parseDuration(bad), undefined, bad);
});

t.test("defaults give the embedded mode", async (t) => {
  const c = loadConfig({});
  t.equal(c.storage.databaseUrl, undefined);
  t.equal(c.tokens.algorithm, "ES256");
  t.equal(c.tokens.accessTokenTtlMs, 600_000);
  t.equal(c.sessions.refreshReuseGraceMs, 10_000);
  t.equal(c.sessions.maxSessionsPerUser, 10);
  t.equal(c.cookies.secure, true);
  t.equal(c.tokens.issuer, "http://localhost:3000");
  t.ok(Object.isFrozen(c.tokens), "config is frozen");
});

t.test("every problem is reported, one line each", async (t) => {
  try {
    loadConfig({ PORT: "http", ACCESS_TOKEN_TTL: "soon", DATABASE_URL: "mysql://x", KEY_ALGORITHM: "HS256", COOKIE_SECURE: "maybe" });
    t.fail("should throw");
  } catch (err) {
    t.type(err, ConfigError);
    const problems = (err as ConfigError).problems;
    t.equal(problems.length, 6, problems.join("\n"));
    t.match(problems.join("\n"), /PORT.*ACCESS_TOKEN_TTL|PORT/s);
    t.match(problems.join("\n"), /KEY_ENCRYPTION_KEY is required when DATABASE_URL is set/);
    t.match(problems.join("\n"), /KEY_ALGORITHM="HS256" must be one of ES256, RS256, EdDSA/);
  }
});

t.test("a short key-encryption key is refused", async (t) => {
  t.throws(() => loadConfig({ KEY_ENCRYPTION_KEY: "short" }), ConfigError);
  t.throws(() => loadConfig({ ADMIN_CLIENT_ID: "admin" }), ConfigError, "admin id without secret");
});

t.test("an access lifetime longer than the idle lifetime is refused at start (SPEC §2)", async (t) => {
  t.throws(() => loadConfig({ ACCESS_TOKEN_TTL: "2h", REFRESH_TOKEN_TTL: "1h" }), /ACCESS_TOKEN_TTL must not be longer than REFRESH_TOKEN_TTL/);
  t.equal(loadConfig({ ACCESS_TOKEN_TTL: "1h", REFRESH_TOKEN_TTL: "1h" }).tokens.accessTokenTtlMs, 3_600_000, "equal lifetimes are allowed");
});
