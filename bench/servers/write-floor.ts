// Baseline: the floor of the write benchmarks. The service's own statement
// for an ordinary refresh (planFastRotation and the one statement that
// decides and writes the rotation) and for issuance (the transaction that
// locks the user and inserts under the cap), with an ES256 access token
// signed by the service's signer, on bare Fastify and a pg pool of the
// service's size: nothing else. No Redis, rate limits, client
// authentication, metrics, logs, hooks or response schemas. What the
// service answers above this floor is what its own machinery costs; what
// this floor answers against pgbench is what the SPEC's writes cost
// (a claimed token, a successor, the sliding session update and an audit
// row per refresh) on Postgres through node-postgres.
//
// It writes into the database of DATABASE_URL, migrated and seeded by the
// service the benchmark runs beside it. Prints {"port":N} when listening.
import { webcrypto } from "node:crypto";
import Fastify from "fastify";
import pg from "pg";
import { hashToken, newOpaqueToken } from "../../src/crypto/opaque-token.js";
import { memoizeDeviceParser } from "../../src/domain/device-memo.js";
import { planFastRotation } from "../../src/domain/refresh-fast-path.js";
import { initialExpiries } from "../../src/domain/session-policy.js";
import type { NewSessionWrite } from "../../src/domain/ports.js";
import { signCompactJws } from "../../src/keys/compact-jws.js";
import { parseUserAgent } from "../../src/lib/user-agent.js";
import { pgSqlDriver } from "../../src/storage/sql-driver.js";
import { issueSession } from "../../src/storage/sessions/issue-sql.js";
import { rotateFast } from "../../src/storage/sessions/fast-path-sql.js";
import { listenForBench } from "./listen.js";

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl) throw new Error("DATABASE_URL is required");
const issuer = process.env.ISSUER ?? "http://session-authority.bench";
// The service's defaults (ENV_DEFAULTS in src/config.ts): pool of 10, 10 min access tokens, 7 days idle, 30 days absolute, cap 10.
const pool = new pg.Pool({ connectionString: databaseUrl, max: 10 });
const db = pgSqlDriver(pool);
const policy = {
  refreshReuseGraceMs: 10_000,
  deviceChangePolicy: "default" as const,
  accessTokenTtlMs: 10 * 60_000,
  refreshTokenTtlMs: 7 * 86_400_000,
  sessionMaxLifetimeMs: 30 * 86_400_000,
  maxSessionsPerUser: 10,
};
const device = memoizeDeviceParser(parseUserAgent);
const { privateKey } = (await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, [
  "sign",
])) as webcrypto.CryptoKeyPair;

const answer = (userId: string, sessionId: string, refreshToken: string, now: Date, accessExpiresAt: Date) => {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = Math.floor(accessExpiresAt.getTime() / 1000);
  const payload = { sid: sessionId, trn: "bearer", iss: issuer, sub: userId, aud: issuer, iat, exp, jti: crypto.randomUUID() };
  return {
    access_token: signCompactJws("ES256", "floor", privateKey, "at+jwt", payload),
    token_type: "Bearer",
    expires_in: exp - iat,
    refresh_token: refreshToken,
    session_id: sessionId,
  };
};

const app = Fastify({ logger: false });

app.post("/refresh", async (request, reply) => {
  const token = (request.body as { refresh_token?: unknown } | null)?.refresh_token;
  if (typeof token !== "string") return reply.code(400).send({ error: "invalid_request" });
  const now = new Date();
  const userAgent = request.headers["user-agent"] ?? null;
  const plan = planFastRotation(token, "bearer", { ip: request.ip, userAgent }, device(userAgent), now, policy);
  const rotated = await rotateFast(db, plan.write);
  // Only the ordinary rotation is measured here: anything else is the service's locked path.
  if (!rotated) return reply.code(409).send({ error: "not_an_ordinary_rotation" });
  return answer(rotated.session.userId, rotated.session.id, plan.successor, now, rotated.session.accessExpiresAt);
});

app.post("/sessions", async (request, reply) => {
  const body = request.body as { subject?: unknown; ip?: unknown; user_agent?: unknown } | null;
  if (typeof body?.subject !== "string") return reply.code(400).send({ error: "invalid_request" });
  const userId = body.subject;
  const ip = typeof body.ip === "string" ? body.ip : null;
  const userAgent = typeof body.user_agent === "string" ? body.user_agent : null;
  const refreshToken = newOpaqueToken();
  const now = new Date();
  const expiries = initialExpiries(now, policy);
  const sessionId = crypto.randomUUID();
  const write: NewSessionWrite = {
    session: {
      id: sessionId,
      userId,
      transport: "bearer",
      createdAt: now,
      lastSeenAt: now,
      ...expiries,
      createdIp: ip,
      lastIp: ip,
      userAgent,
      device: device(userAgent),
      deviceFlagged: false,
      deviceScore: 0,
      revokedAt: null,
      revokedReason: null,
      revokedBy: null,
      clientId: "default",
      accessTtlMs: null,
      idleTtlMs: null,
      authentication: { authTime: now, amr: [], acr: null },
      sessionClaims: null,
      claims: null,
      tokensNotBefore: null,
    },
    refreshToken: {
      id: crypto.randomUUID(),
      hash: hashToken(refreshToken),
      sessionId,
      parentId: null,
      createdAt: now,
      expiresAt: expiries.idleExpiresAt,
      rotatedAt: null,
      successorSealed: null,
      ip,
      userAgent,
    },
    audit: {
      type: "session_issued",
      actor: "client:floor",
      userId,
      sessionId,
      ip,
      userAgent,
      detail: { transport: "bearer", evicted: [] },
    },
    maxLive: policy.maxSessionsPerUser,
    now,
  };
  const attempt = await issueSession(db, { userId }, "default", () => write);
  if (!attempt.inserted) return reply.code(409).send({ error: attempt.user ? "no_room" : "no_such_user" });
  return reply.send(answer(userId, sessionId, refreshToken, now, expiries.accessExpiresAt));
});

await listenForBench(app, () => pool.end());
