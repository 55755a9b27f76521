import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, spawnNode, type Child } from "./child.js";
import { basicAuth, mapLimit, postJson } from "./http.js";
import { scratchDatabase } from "./postgres.js";
import { redisUrl, scratchRedisPrefix } from "./redis.js";
import type { Scope } from "./scope.js";

/** What instances of one deployment share: Postgres, Redis prefix, secrets, issuer. */
export interface Deployment {
  databaseUrl: string;
  databaseName: string;
  redisPrefix: string;
  issuer: string;
  admin: { id: string; secret: string; basic: string };
  env: Record<string, string>;
}

/** A fresh database and Redis prefix (both removed when the scope closes) and the production-shaped environment. */
export async function createDeployment(scope: Scope, label: string, env: Record<string, string> = {}): Promise<Deployment> {
  const db = await scratchDatabase(scope, label);
  const redisPrefix = scratchRedisPrefix(scope, label);
  const admin = { id: "bench-admin", secret: randomBytes(24).toString("base64url") };
  const issuer = "http://session-authority.bench";
  return {
    databaseUrl: db.url,
    databaseName: db.name,
    redisPrefix,
    issuer,
    admin: { ...admin, basic: basicAuth(admin.id, admin.secret) },
    env: {
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      REDIS_KEY_PREFIX: redisPrefix,
      KEY_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
      ADMIN_CLIENT_ID: admin.id,
      ADMIN_CLIENT_SECRET: admin.secret,
      ISSUER: issuer,
      AUDIENCE: issuer,
      HOST: "127.0.0.1",
      LOG_LEVEL: "warn",
      COOKIE_SECURE: "false",
      ...env,
    },
  };
}

export interface ServiceClientCredentials {
  id: string;
  secret: string;
  basic: string;
}

export interface IssuedSession {
  access_token: string;
  refresh_token: string;
  session_id: string;
}

export interface Instance {
  url: string;
  child: Child;
  deployment: Deployment;
  createClient(scopes: string[], name?: string): Promise<ServiceClientCredentials>;
  /** POST /sessions for each subject (bearer transport), a few at a time. */
  issueSessions(
    client: ServiceClientCredentials,
    subjects: readonly string[],
    ctx?: { ip: string; userAgent: string },
  ): Promise<IssuedSession[]>;
}

/** What benchmarks put in the user agent and IP of sessions they create and refresh (so no device change is scored). */
export const BENCH_DEVICE = {
  ip: "127.0.0.1",
  userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
};

/** Starts `node --import tsx src/server.ts` on a free loopback port and waits for /readyz (Postgres and Redis ok). */
export async function startInstance(
  scope: Scope,
  deployment: Deployment,
  label: string,
  env: Record<string, string> = {},
): Promise<Instance> {
  const port = await freePort();
  // BENCH_SERVICE_NODE_ARGS: extra node flags for the service, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = process.env.BENCH_SERVICE_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawnNode(scope, "src/server.ts", { env: { ...deployment.env, PORT: String(port), ...env }, nodeArgs, label });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.process.exitCode !== null) throw new Error(`${label} exited with ${child.process.exitCode}\n${child.stderrTail()}`);
    if (Date.now() > deadline) throw new Error(`${label} not ready within 90 s\n${child.stderrTail()}`);
    const ready = await fetch(`${url}/readyz`).then(
      async (r) => r.ok && ((await r.json()) as { redis?: string }).redis === "ok",
      () => false,
    );
    if (ready) break;
    await sleep(200);
  }
  return {
    url,
    child,
    deployment,
    async createClient(scopes, name = "bench client") {
      const r = await postJson<{ client_id: string; client_secret: string }>(
        `${url}/admin/clients`,
        { name, scopes },
        { authorization: deployment.admin.basic },
      );
      return { id: r.client_id, secret: r.client_secret, basic: basicAuth(r.client_id, r.client_secret) };
    },
    issueSessions(client, subjects, ctx = BENCH_DEVICE) {
      return mapLimit(subjects, 4, (subject) =>
        postJson<IssuedSession>(
          `${url}/sessions`,
          { subject, transport: "bearer", ip: ctx.ip, user_agent: ctx.userAgent },
          { authorization: client.basic },
        ),
      );
    },
  };
}
