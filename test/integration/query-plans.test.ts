// The hot statements run as named prepared statements on long-lived pooled
// connections, so Postgres may plan them once, generically, and keep that
// plan for as long as the connection lives. A plan made on a fresh database
// (empty tables, no statistics) must therefore already be the right one: an
// earlier schema let the issuance count take sessions_revoked_at_idx there,
// which walks every live session of every user, and issuance slowed with
// each session written (1 ms of Postgres CPU per login in the benchmark,
// against 0.3 ms with the right index). This asserts the generic plans on
// an empty, never-analysed database.
import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import t from "tap";
import type { Statement, SqlQueryable } from "../../src/storage/sql-driver.js";
import { insertSessionUnderCap, lockForIssue, lockUserRow } from "../../src/storage/sessions/issue-sql.js";
import { rotateFast } from "../../src/storage/sessions/fast-path-sql.js";
import { freshPostgres } from "../fixtures/database.js";

/** Records the statements a storage function sends, answering with rows that let it finish. */
function recorder(answer: Record<string, unknown>): SqlQueryable & { statements: Statement[] } {
  const statements: Statement[] = [];
  return {
    statements,
    async query<R>(s: Statement): Promise<R[]> {
      statements.push(s);
      return [answer as R];
    },
  };
}

/** A parameter as an SQL literal of unknown type, resolved by the statement's own casts. */
function literal(v: unknown): string {
  if (v === null || v === undefined) return "NULL";
  const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;
  if (v instanceof Date) return quote(v.toISOString());
  if (v instanceof Uint8Array) return quote(`\\x${Buffer.from(v).toString("hex")}`);
  if (Array.isArray(v)) return quote(`{${v.map((e) => `"${String(e).replace(/["\\]/g, "\\$&")}"`).join(",")}}`);
  return quote(String(v));
}

const now = new Date();
const later = new Date(now.getTime() + 3_600_000);
const device = { browser: "Chrome", os: "Linux", type: "desktop" };
const userId = randomUUID();
const audit = { type: "refresh", actor: "user:x", userId, sessionId: randomUUID(), ip: "127.0.0.1", userAgent: "ua", detail: {} };

async function statementsOfTheHotPath(): Promise<Array<{ what: string; statement: Statement }>> {
  const out: Array<{ what: string; statement: Statement }> = [];
  const take = async (what: string, answer: Record<string, unknown>, run: (q: SqlQueryable) => Promise<unknown>) => {
    const r = recorder(answer);
    await run(r).catch(() => undefined); // the answers are made up; only the statements matter
    for (const statement of r.statements) out.push({ what, statement });
  };
  await take("rotation", {}, (q) =>
    rotateFast(q, {
      now,
      tokenHash: randomBytes(32),
      transport: "bearer",
      ip: "127.0.0.1",
      userAgent: "ua",
      device,
      defaults: { accessTokenTtlMs: 600_000, refreshTokenTtlMs: 3_600_000 },
      successorSealed: randomBytes(60),
      successor: { id: randomUUID(), hash: randomBytes(32) },
    }),
  );
  await take("user lock", {}, (q) => lockUserRow(q, randomUUID()));
  await take("issuance locks", {}, (q) => lockForIssue(q, { userId: randomUUID() }, "default"));
  const sessionId = randomUUID();
  await take("issuance", { inserted: 3 }, (q) =>
    insertSessionUnderCap(q, {
      now,
      maxLive: 10,
      session: {
        id: sessionId,
        userId,
        transport: "bearer",
        createdAt: now,
        lastSeenAt: now,
        idleExpiresAt: later,
        absoluteExpiresAt: later,
        accessExpiresAt: later,
        createdIp: "127.0.0.1",
        lastIp: "127.0.0.1",
        userAgent: "ua",
        device,
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
        id: randomUUID(),
        sessionId,
        parentId: null,
        createdAt: now,
        expiresAt: later,
        rotatedAt: null,
        successorSealed: null,
        ip: null,
        userAgent: null,
        hash: randomBytes(32),
      },
      audit: { ...audit, type: "login" },
    }),
  );
  return out;
}

t.test("the hot statements' generic plans on an empty database use the right indexes", async (t) => {
  const { url } = await freshPostgres(t);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  t.teardown(() => client.end());
  await client.query("SET plan_cache_mode = force_generic_plan");

  const statements = await statementsOfTheHotPath();
  t.same(
    [...new Set(statements.map((s) => s.what))],
    ["rotation", "user lock", "issuance locks", "issuance"],
    "every hot statement was captured",
  );
  for (const [i, { what, statement }] of statements.entries()) {
    await client.query(`PREPARE hot_${i} AS ${statement.text}`);
    const rows = (await client.query<{ "QUERY PLAN": string }>(`EXPLAIN EXECUTE hot_${i}(${statement.values.map(literal).join(", ")})`))
      .rows;
    const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
    t.notMatch(plan, /Seq Scan on (sessions|refresh_tokens|users)\b/, `${what}: no sequential scan of a growing table`);
    t.notMatch(plan, /sessions_revoked_at_idx/, `${what}: the revoked-sessions index (cleanup's) is not used`);
    if (what === "rotation") {
      t.match(plan, /sessions_pkey on sessions s\b[^\n]*\n\s*Index Cond: \(id = /, "rotation reads its session by primary key");
      t.notMatch(plan, /Index Scan using sessions_client_live_idx on sessions s\b/, "rotation walks no application's live sessions");
      t.notMatch(plan, /refresh_tokens_session_idx on refresh_tokens t\b/, "rotation walks no rotation chain");
    }
    if (what === "issuance")
      t.match(
        plan,
        /sessions_client_live_idx[^\n]*\n\s*Index Cond: \(\(\(?client_id\b[^\n]*\bAND \(user_id = /,
        "issuance counts the user's live sessions of the application through their own index, on both keys",
      );
  }
});
