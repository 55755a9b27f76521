// SPEC §14: one tamper-evident chain over every audit event. Edits, deletions
// and reorderings made behind the service's back are each named by
// GET /admin/audit/verify and the CLI; retention keeps the rest verifiable.
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import t from "tap";
import { runCli } from "../../src/cli/main.js";
import { runCleanup } from "../../src/maintenance/cleanup.js";
import { DAY } from "../fixtures/clock.js";
import { MODES, testApp, type TestApp } from "../fixtures/app.js";
import { basicAuth } from "../fixtures/service-client.js";

const ADMIN = { id: "audit-admin", secret: "audit-admin-secret-0123456789" };
const env = { ADMIN_CLIENT_ID: ADMIN.id, ADMIN_CLIENT_SECRET: ADMIN.secret };
const admin = { authorization: basicAuth(ADMIN.id, ADMIN.secret) };

type Served = { id: string; seq: number; prev_hash: string; hash: string; [k: string]: unknown };

/** Every event through the paginated API, oldest first. */
async function allEvents(app: TestApp["app"]): Promise<Served[]> {
  const out: Served[] = [];
  for (let cursor: string | null = ""; cursor !== null; ) {
    const res = await app.inject({ url: `/admin/audit?limit=7${cursor ? `&cursor=${cursor}` : ""}`, headers: admin });
    const body = res.json() as { events: Served[]; next_cursor: string | null };
    out.push(...body.events);
    cursor = body.next_cursor;
  }
  return out.reverse();
}

const verify = async (app: TestApp["app"]) => (await app.inject({ url: "/admin/audit/verify", headers: admin })).json();

/** Logins, refreshes, a failure, a revocation: events from the session statements and from plain records. */
async function someTraffic(ta: TestApp, n: number) {
  const u = await ta.createUser();
  for (let i = 0; i < n; i++) {
    const s = (await ta.login(u.username, u.password)).json();
    await ta.app.inject({ method: "POST", url: "/refresh", payload: { refresh_token: s.refresh_token } });
    await ta.login(u.username, "wrong password");
    await ta.app.inject({ method: "DELETE", url: `/admin/sessions/${s.session_id}`, headers: admin });
  }
}

for (const mode of MODES) {
  t.test(`${mode}: every served event carries seq, prev_hash and hash, and anyone holding them can verify`, async (t) => {
    const ta = await testApp(t, mode, { env });
    await someTraffic(ta, 3);
    const events = await allEvents(ta.app);
    t.ok(events.length >= 12, `${events.length} events`);
    t.strictSame(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      "seq runs 1..n without gaps",
    );
    // An independent recomputation: only canonicalize (RFC 8785) and SHA-256, on the JSON as served.
    let prev = "0".repeat(64);
    for (const e of events) {
      const { hash, ...rest } = e;
      t.equal(e.prev_hash, prev, `event ${e.seq} links to the one before`);
      t.equal(
        hash,
        createHash("sha256")
          .update(`${prev}\n${canonicalize(rest)}`)
          .digest("hex"),
        `event ${e.seq} hashes as SPEC §14 says`,
      );
      prev = hash;
    }
    t.match(await verify(ta.app), { valid: true, checked: events.length, head: { seq: events.length, hash: prev }, first_invalid: null });
    t.equal((await ta.app.inject({ url: "/admin/audit/verify" })).statusCode, 401, "verification is an admin call");
  });

  t.test(`${mode}: an edit, a deletion and a reordering through SQL are each named`, async (t) => {
    const ta = await testApp(t, mode, { env });
    await someTraffic(ta, 2);
    const events = await allEvents(ta.app);
    const sql = ta.services.db.prisma;
    const idAt = (seq: number) => BigInt(events[seq - 1]!.id);

    await sql.$executeRaw`UPDATE audit_events SET detail = jsonb_set(detail, '{reason}', '"tampered"') WHERE id = ${idAt(4)}`;
    t.match(
      await verify(ta.app),
      { valid: false, checked: 3, first_invalid: { id: String(idAt(4)), seq: 4, reason: "hash_mismatch" } },
      "an edited detail",
    );
    await sql.$executeRaw`UPDATE audit_events SET detail = ${JSON.stringify(events[3]!.detail)}::jsonb WHERE id = ${idAt(4)}`;
    await sql.$executeRaw`UPDATE audit_events SET ip = '10.9.9.9' WHERE id = ${idAt(2)}`;
    t.match(await verify(ta.app), { valid: false, first_invalid: { seq: 2, reason: "hash_mismatch" } }, "an edited column");
    await sql.$executeRaw`UPDATE audit_events SET ip = ${events[1]!.ip as string | null} WHERE id = ${idAt(2)}`;
    t.match(await verify(ta.app), { valid: true }, "restored, it verifies again");

    // A deletion: the event after the hole is named.
    const [victim] = await sql.$queryRaw<Array<Record<string, unknown>>>`SELECT * FROM audit_events WHERE id = ${idAt(5)}`;
    await sql.$executeRaw`DELETE FROM audit_events WHERE id = ${idAt(5)}`;
    t.match(
      await verify(ta.app),
      { valid: false, checked: 4, first_invalid: { id: String(idAt(6)), seq: 6, expected_seq: 5, reason: "seq_gap" } },
      "a deleted event",
    );
    // Renumbering to hide the hole breaks the links instead.
    await sql.$executeRaw`UPDATE audit_events SET seq = seq - 1 WHERE seq = 6`;
    t.match(await verify(ta.app), { valid: false, first_invalid: { seq: 5, reason: "prev_hash_mismatch" } }, "a deletion with renumbering");
    await sql.$executeRaw`UPDATE audit_events SET seq = 6 WHERE id = ${idAt(6)}`;
    await sql.$executeRaw`INSERT INTO audit_events SELECT * FROM jsonb_populate_record(NULL::audit_events, ${JSON.stringify(victim, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}::jsonb)`;
    t.match(await verify(ta.app), { valid: true }, "restored");

    // A reordering: two events swap places in the chain.
    await sql.$executeRaw`UPDATE audit_events SET seq = -7 WHERE seq = 7`;
    await sql.$executeRaw`UPDATE audit_events SET seq = 7 WHERE seq = 8`;
    await sql.$executeRaw`UPDATE audit_events SET seq = 8 WHERE seq = -7`;
    t.match(
      await verify(ta.app),
      { valid: false, checked: 6, first_invalid: { id: String(idAt(8)), seq: 7, reason: "prev_hash_mismatch" } },
      "swapped events",
    );
    await sql.$executeRaw`UPDATE audit_events SET seq = -7 WHERE seq = 7`;
    await sql.$executeRaw`UPDATE audit_events SET seq = 7 WHERE seq = 8`;
    await sql.$executeRaw`UPDATE audit_events SET seq = 8 WHERE seq = -7`;
    t.match(await verify(ta.app), { valid: true }, "swapped back");
    await sql.$executeRaw`UPDATE audit_events SET at = at + interval '1 second' WHERE seq = 9`;
    t.match(await verify(ta.app), { valid: false, first_invalid: { seq: 9, reason: "hash_mismatch" } }, "a moved timestamp");
  });

  t.test(`${mode}: retention deletes a prefix and leaves an anchor the rest verifies from`, async (t) => {
    const ta = await testApp(t, mode, { env });
    await someTraffic(ta, 2);
    const old = (await allEvents(ta.app)).length;
    ta.clock.advance(10 * DAY);
    await someTraffic(ta, 1);
    const before = await allEvents(ta.app);
    const report = await runCleanup(ta.services.db, ta.clock, { sessionRetentionMs: 100 * DAY, auditRetentionMs: 5 * DAY, batchSize: 3 });
    t.equal(report?.auditEvents, old, "the old events are deleted");
    const after = await allEvents(ta.app);
    t.strictSame(
      after.map((e) => e.seq),
      before.slice(old).map((e) => e.seq),
      "the newer events keep their links",
    );
    t.match(await verify(ta.app), { valid: true, checked: after.length, anchor: { seq: old, hash: before[old - 1]!.hash } });
    // Everything expires: the chain continues from the anchor.
    ta.clock.advance(10 * DAY);
    await runCleanup(ta.services.db, ta.clock, { sessionRetentionMs: 100 * DAY, auditRetentionMs: 5 * DAY, batchSize: 3 });
    t.equal((await allEvents(ta.app)).length, 0);
    await someTraffic(ta, 1);
    const next = await allEvents(ta.app);
    t.equal(next[0]!.seq, before.length + 1, "seq continues after the anchor");
    t.equal(next[0]!.prev_hash, before.at(-1)!.hash);
    t.match(await verify(ta.app), { valid: true, anchor: { seq: before.length } });
    // Deleting the first remaining event is still caught.
    await ta.services.db.prisma.$executeRaw`DELETE FROM audit_events WHERE seq = ${next[0]!.seq}`;
    t.match(await verify(ta.app), { valid: false, first_invalid: { seq: next[1]!.seq, reason: "seq_gap" } });
  });
}

t.test("CLI audit:verify names the first bad event and exits 1", async (t) => {
  const ta = await testApp(t, "postgres", { env });
  await someTraffic(ta, 1);
  const url = ta.services.config.storage.databaseUrl!;
  const run = async () => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(
      ["audit:verify"],
      { DATABASE_URL: url, KEY_ENCRYPTION_KEY: "test-key-encryption-key-0123456789abcdef" },
      { out: (l) => out.push(l), err: (l) => err.push(l), stdin: async () => "" },
    );
    return { code, report: JSON.parse(out.at(-1)!), err };
  };
  t.match(await run(), { code: 0, report: { valid: true } });
  const [third] = await ta.services.db.prisma.$queryRaw<Array<{ id: bigint }>>`SELECT id FROM audit_events WHERE seq = 3`;
  await ta.services.db.prisma.$executeRaw`UPDATE audit_events SET actor = 'someone else' WHERE seq = 3`;
  const bad = await run();
  t.match(bad, { code: 1, report: { valid: false, first_invalid: { id: String(third!.id), seq: 3, reason: "hash_mismatch" } } });
  t.match(bad.err.join("\n"), /event \d+ \(seq 3\)/);
});
