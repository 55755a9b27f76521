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
