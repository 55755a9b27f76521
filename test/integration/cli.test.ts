import t from "tap";
import { runCli, type Io } from "../../src/cli/main.js";
import { freshEmbedded, freshPostgres } from "../fixtures/database.js";

function capture(stdin = ""): Io & { outLines: string[]; errLines: string[] } {
  const outLines: string[] = [];
  const errLines: string[] = [];
  return { outLines, errLines, out: (l) => outLines.push(l), err: (l) => errLines.push(l), stdin: async () => stdin };
}

const KEK = "cli-test-key-encryption-key-0123456789";

t.test("help lists every command; --help shows a command's usage", async (t) => {
  const io = capture();
  t.equal(await runCli(["--help"], {}, io), 0);
  t.match(io.outLines.join("\n"), /migrate[\s\S]*users:create/);
  const usage = capture();
  t.equal(await runCli(["users:create", "--help"], {}, usage), 0);
  t.match(usage.outLines.join("\n"), /usage: .*users:create <username>/);
  const unknown = capture();
  t.equal(await runCli(["frobnicate"], {}, unknown), 2);
  t.match(unknown.errLines[0], /unknown command: frobnicate/);
});

t.test("migrate applies pending migrations, then reports the database up to date", async (t) => {
  const { url } = await freshPostgres(t, { migrated: false });
  const env = { DATABASE_URL: url, KEY_ENCRYPTION_KEY: KEK };
  const first = capture();
  t.equal(await runCli(["migrate"], env, first), 0);
  t.match(first.outLines.at(-1), /applied \d+ migration\(s\): \d+_init, /);
  const second = capture();
  t.equal(await runCli(["migrate"], env, second), 0);
  t.equal(second.outLines.at(-1), "database is up to date");
});

t.test("users:create reads the password from stdin and the user can log in", async (t) => {
  const { dataDir, db } = await freshEmbedded(t);
  await db.close();
  const io = capture("a long enough password\n");
  t.equal(await runCli(["users:create", "Carol"], { DATA_DIR: dataDir }, io), 0, io.errLines.join("\n"));
  const created = JSON.parse(io.outLines.at(-1)!);
  t.match(created, { id: String, username: "Carol" });

  const dup = capture("another long password");
  t.equal(await runCli(["users:create", "carol"], { DATA_DIR: dataDir }, dup), 1, "a taken username fails");
  t.match(dup.errLines[0], /username is taken/);
  const short = capture("short");
  t.equal(await runCli(["users:create", "dave"], { DATA_DIR: dataDir }, short), 1);
  t.match(short.errLines[0], /password must be 8 to 1024 characters/);
  const noName = capture("whatever password");
  t.equal(await runCli(["users:create"], { DATA_DIR: dataDir }, noName), 2);
});

t.test("bad configuration is reported, not thrown", async (t) => {
  const io = capture();
  t.equal(await runCli(["migrate"], { DATABASE_URL: "postgres://x/y" }, io), 2);
  t.match(io.errLines[0], /KEY_ENCRYPTION_KEY is required/);
});

t.test("clients:create, clients:rotate-secret and clients:delete manage service clients", async (t) => {
  const { url } = await freshPostgres(t);
  const env = { DATABASE_URL: url, KEY_ENCRYPTION_KEY: KEK };
  const bad = capture();
  t.equal(await runCli(["clients:create", "gw", "--scopes", "introspect,root"], env, bad), 2);
  t.match(bad.errLines[0], /unknown scope\(s\): root/);
  const created = capture();
  t.equal(
    await runCli(["clients:create", "gateway", "--scopes", "introspect,revocations:read"], env, created),
    0,
    created.errLines.join("\n"),
  );
  const client = JSON.parse(created.outLines.at(-1)!);
  t.match(client, { client_id: String, client_secret: String, scopes: ["introspect", "revocations:read"] });

  const rotated = capture();
  t.equal(await runCli(["clients:rotate-secret", client.client_id], env, rotated), 0);
  const next = JSON.parse(rotated.outLines.at(-1)!);
  t.not(next.client_secret, client.client_secret, "a new secret");
  const missing = capture();
  t.equal(await runCli(["clients:rotate-secret", "no-such-client"], env, missing), 1);
  t.match(missing.errLines[0], /no such client/);

  const deleted = capture();
  t.equal(await runCli(["clients:delete", client.client_id], env, deleted), 0);
  t.equal(await runCli(["clients:delete", client.client_id], env, capture()), 1, "deleting twice is not found");
});

t.test("keys:list and keys:rotate show and pre-publish signing keys", async (t) => {
  const { url } = await freshPostgres(t);
  const env = { DATABASE_URL: url, KEY_ENCRYPTION_KEY: KEK };
  const list = capture();
  t.equal(await runCli(["keys:list"], env, list), 0);
  t.equal(list.outLines.length, 1);
  t.match(JSON.parse(list.outLines[0]!), { state: "active", alg: "ES256" });
  const rotate = capture();
  t.equal(await runCli(["keys:rotate"], env, rotate), 0);
  const pending = JSON.parse(rotate.outLines.at(-1)!);
  const again = capture();
  t.equal(await runCli(["keys:rotate"], env, again), 0);
  t.equal(JSON.parse(again.outLines.at(-1)!).kid, pending.kid, "idempotent while a key is pending");
  const after = capture();
  await runCli(["keys:list"], env, after);
  t.same(after.outLines.map((l) => JSON.parse(l).state).sort(), ["active", "next"]);
});

t.test("every command answers --help", async (t) => {
  for (const name of [
    "migrate",
    "cleanup",
    "users:create",
    "users:claims",
    "clients:create",
    "clients:rotate-secret",
    "clients:delete",
    "keys:list",
    "keys:rotate",
    "applications:create",
    "applications:list",
    "applications:update",
    "applications:dry-run",
    "applications:delete",
  ]) {
    const io = capture();
    t.equal(await runCli([name, "--help"], {}, io), 0, name);
    t.match(io.outLines.join("\n"), new RegExp(`usage: .*session-authority ${name}`), name);
  }
});

t.test("applications:create, list, update, dry-run and delete manage applications and their policies", async (t) => {
  const { url, db } = await freshPostgres(t);
  const env = { DATABASE_URL: url, KEY_ENCRYPTION_KEY: KEK };
  const run = async (args: string[], code = 0) => {
    const io = capture();
    t.equal(await runCli(args, env, io), code, `${args.join(" ")}: ${io.errLines.join(" ")}`);
    return io;
  };
  const created = await run([
    "applications:create",
    "ios",
    "--name",
    "iOS app",
    "--transports",
    "bearer",
    "--set",
    "max_sessions_per_user=2",
  ]);
  t.match(JSON.parse(created.outLines[0]!), { id: "ios", name: "iOS app", transports: ["bearer"], policy: { max_sessions_per_user: 2 } });
  t.match((await run(["applications:create", "ios", "--name", "again"], 1)).errLines[0], /exists/);
  t.match((await run(["applications:create", "web", "--name", "W", "--policy", "{not json"], 2)).errLines[0], /JSON/);
  t.match((await run(["applications:create", "web", "--name", "W", "--set", "ttl=5"], 1)).errLines[0], /unknown policy field/);
  await run(["applications:create", "--name", "no id"], 2);

  const list = await run(["applications:list"]);
  t.same(
    list.outLines.map((l) => JSON.parse(l).id),
    ["default", "ios"],
  );

  // Three live sessions of one user of ios: a lowered limit ends the oldest ones.
  const user = "00000000-0000-4000-8000-000000000001";
  await db.prisma.$executeRawUnsafe(
    `INSERT INTO users (id, username, username_key, password_hash) VALUES ('${user}', 'cli_u', 'cli_u', 'x')`,
  );
  for (const [i, age] of [30, 20, 10].entries()) {
    await db.prisma.$executeRawUnsafe(
      `INSERT INTO sessions (id, user_id, client_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at, access_expires_at)
       VALUES ('00000000-0000-4000-8000-00000000010${i}', '${user}', 'ios', 'bearer', now() - interval '${age} minutes', now() - interval '${age} minutes',
               now() + interval '1 day', now() + interval '20 days', now() - interval '1 minute')`,
    );
  }
  const dry = await run(["applications:dry-run", "ios", "--policy", '{"max_sessions_per_user":1}']);
  t.same(JSON.parse(dry.outLines[0]!), {
    sessions_ended: 2,
    sessions_shortened: 0,
    users_over_limit: 1,
    sample: ["00000000-0000-4000-8000-000000000100", "00000000-0000-4000-8000-000000000101"],
  });
  await run(["applications:dry-run", "ios"], 2);
  const updated = await run(["applications:update", "ios", "--set", "max_sessions_per_user=1", "--origins", "https://ios.example"]);
  t.match(JSON.parse(updated.outLines[0]!), {
    origins: ["https://ios.example"],
    policy: { max_sessions_per_user: 1 },
    policy_effect: JSON.parse(dry.outLines[0]!),
  });
  const unset = await run(["applications:update", "ios", "--set", "max_sessions_per_user=null"]);
  t.notOk("max_sessions_per_user" in JSON.parse(unset.outLines[0]!).policy, "null returns a field to the default");
  await run(["applications:update", "nope", "--name", "x"], 1);

  t.match((await run(["applications:delete", "default"], 1)).errLines[0], /cannot be deleted/);
  const deleted = await run(["applications:delete", "ios"]);
  t.same(JSON.parse(deleted.outLines[0]!), { deleted: "ios", sessions_revoked: 1 });
  const left = await db.prisma.$queryRawUnsafe<Array<{ revoked_reason: string }>>(
    `SELECT revoked_reason FROM sessions WHERE user_id = '${user}' ORDER BY created_at`,
  );
  t.same(
    left.map((r) => r.revoked_reason),
    ["policy", "policy", "admin"],
  );
});

t.test("users:claims reads a JSON object on stdin and replaces the user's claims as PATCH does", async (t) => {
  const { url, db } = await freshPostgres(t);
  const env = { DATABASE_URL: url, KEY_ENCRYPTION_KEY: KEK };
  const run = async (args: string[], stdin: string, code: number) => {
    const io = capture(stdin);
    t.equal(await runCli(args, env, io), code, `${args.join(" ")} <<< ${stdin}: ${io.errLines.join(" ")}`);
    return io;
  };
  const user = JSON.parse((await run(["users:create", "claims_cli"], "a long enough password", 0)).outLines[0]!);
  const claimsOf = async () =>
    (await db.prisma.$queryRawUnsafe<Array<{ claims: unknown }>>(`SELECT claims FROM users WHERE id = '${user.id}'`))[0]!.claims;

  const set = await run(["users:claims", user.id], '{"role":"editor","tenant":"acme"}\n', 0);
  t.match(JSON.parse(set.outLines[0]!), { id: user.id, kind: "local", claims: { role: "editor", tenant: "acme" } }, "prints the user");
  t.same(await claimsOf(), { role: "editor", tenant: "acme" }, "stored on the user");
  const audit = await db.prisma.$queryRawUnsafe<Array<{ actor: string; user_id: string; detail: { changed: string[] } }>>(
    `SELECT actor, user_id::text, detail FROM audit_events WHERE type = 'user_claims_changed' ORDER BY id`,
  );
  t.match(audit, [{ actor: "cli", user_id: user.id, detail: { changed: ["role", "tenant"] } }], "audited with the CLI as actor");

  t.match((await run(["users:claims", user.id], "{not json", 2)).errLines[0], /must be a JSON object/);
  t.match((await run(["users:claims", user.id], '["role"]', 2)).errLines[0], /must be a JSON object/);
  t.match((await run(["users:claims", user.id], '{"sub":"someone else"}', 1)).errLines[0], /sub/, "a reserved name is refused");
  t.match((await run(["users:claims", "00000000-0000-4000-8000-0000000000ff"], "{}", 1)).errLines[0], /no such user/);
  await run(["users:claims"], "{}", 2);
  t.match((await run(["users:claims", "alice"], "{}", 2)).errLines[0], /must be a user's id/, "a malformed id is a usage error");
  t.same(await claimsOf(), { role: "editor", tenant: "acme" }, "refused input changes nothing");

  await run(["users:claims", user.id], "{}", 0);
  t.same(await claimsOf(), {}, "{} clears the claims");
});
