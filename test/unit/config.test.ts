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
  t.throws(
    () => loadConfig({ ACCESS_TOKEN_TTL: "2h", REFRESH_TOKEN_TTL: "1h" }),
    /ACCESS_TOKEN_TTL must not be longer than REFRESH_TOKEN_TTL/,
  );
  t.equal(
    loadConfig({ ACCESS_TOKEN_TTL: "1h", REFRESH_TOKEN_TTL: "1h" }).tokens.accessTokenTtlMs,
    3_600_000,
    "equal lifetimes are allowed",
  );
});

t.test("Redis: one server, a Sentinel group or a Cluster, chosen by configuration (SPEC §8)", async (t) => {
  t.equal(loadConfig({}).storage.redis, undefined, "none by default");
  t.same(loadConfig({ REDIS_URL: "redis://127.0.0.1:6379" }).storage.redis, { kind: "standalone", url: "redis://127.0.0.1:6379" });
  t.same(
    loadConfig({
      REDIS_SENTINELS: "10.0.0.1:26379, sentinel-2.internal:26379,[fd00::3]:26380",
      REDIS_SENTINEL_MASTER: "sessions",
      REDIS_SENTINEL_PASSWORD: "sentinel-secret",
      REDIS_PASSWORD: "data-secret",
      REDIS_TLS: "true",
    }).storage.redis,
    {
      kind: "sentinel",
      sentinels: [
        { host: "10.0.0.1", port: 26379 },
        { host: "sentinel-2.internal", port: 26379 },
        { host: "fd00::3", port: 26380 },
      ],
      masterName: "sessions",
      sentinelUsername: undefined,
      sentinelPassword: "sentinel-secret",
      tls: true,
      username: undefined,
      password: "data-secret",
      tlsCaFile: undefined,
    },
  );
  t.match(loadConfig({ REDIS_CLUSTER_NODES: "10.0.0.1:7000,10.0.0.2:7000", REDIS_USERNAME: "svc", REDIS_PASSWORD: "pw" }).storage.redis, {
    kind: "cluster",
    nodes: [
      { host: "10.0.0.1", port: 7000 },
      { host: "10.0.0.2", port: 7000 },
    ],
    username: "svc",
    password: "pw",
    tls: false,
  });
});

t.test("a wrong Redis configuration is refused at start, one line naming the variable", async (t) => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig(env);
      return [];
    } catch (err) {
      return (err as ConfigError).problems;
    }
  };
  t.match(problems({ REDIS_SENTINELS: "10.0.0.1:26379" }), [/^REDIS_SENTINEL_MASTER .*required with REDIS_SENTINELS/]);
  t.match(problems({ REDIS_SENTINELS: "10.0.0.1", REDIS_SENTINEL_MASTER: "m" }), [
    /^REDIS_SENTINELS="10.0.0.1" must be a comma-separated list of host:port/,
  ]);
  t.match(problems({ REDIS_CLUSTER_NODES: "10.0.0.1:7000,:7001" }), [
    /^REDIS_CLUSTER_NODES=.* must be a comma-separated list of host:port/,
  ]);
  t.match(problems({ REDIS_CLUSTER_NODES: "10.0.0.1:70000" }), [/^REDIS_CLUSTER_NODES=/]);
  t.match(problems({ REDIS_URL: "redis://a:6379", REDIS_CLUSTER_NODES: "10.0.0.1:7000" }), [
    /^REDIS_URL and REDIS_CLUSTER_NODES are alternatives: set only one/,
  ]);
  t.match(problems({ REDIS_PASSWORD: "pw" }), [/^REDIS_PASSWORD is set but no Redis is/]);
  t.match(problems({ REDIS_URL: "redis://a:6379", REDIS_TLS: "true" }), [/^REDIS_TLS applies to REDIS_SENTINELS and REDIS_CLUSTER_NODES/]);
  t.match(problems({ REDIS_CLUSTER_NODES: "a:7000", REDIS_SENTINEL_MASTER: "m" }), [
    /^REDIS_SENTINEL_MASTER applies only to REDIS_SENTINELS/,
  ]);
  t.match(problems({ REDIS_CLUSTER_NODES: "a:7000", REDIS_TLS: "yes" }), [/^REDIS_TLS="yes" must be true or false/]);
  t.match(problems({ REDIS_CLUSTER_NODES: "a:7000", REDIS_TLS: "true", REDIS_TLS_CA_FILE: "/nonexistent/ca.pem" }), [
    /^REDIS_TLS_CA_FILE="\/nonexistent\/ca.pem" cannot be read/,
  ]);
  for (const list of [problems({ REDIS_SENTINELS: "x" }), problems({ REDIS_CLUSTER_NODES: "a:1", REDIS_URL: "redis://b" })]) {
    t.ok(
      list.every((p) => !p.includes("\n")),
      "each problem is one line",
    );
  }
});
