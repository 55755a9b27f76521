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
    "clients:create",
    "clients:rotate-secret",
    "clients:delete",
    "keys:list",
    "keys:rotate",
  ]) {
    const io = capture();
    t.equal(await runCli([name, "--help"], {}, io), 0, name);
    t.match(io.outLines.join("\n"), new RegExp(`usage: .*session-authority ${name}`), name);
  }
});
