// SPEC §9 and the README's Configuration: every configuration problem stops
// the real server with one line naming the variable and exit code 2; a
// backing service it cannot reach at start is named with where it was
// looked for (exit 1). Never a stack trace for what an operator must fix.
import { spawn } from "node:child_process";
import { writeFile, mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import { testApp } from "../fixtures/app.js";
import { freshPostgres, postgresAdminUrl } from "../fixtures/database.js";
import { freePort } from "../fixtures/free-port.js";

const root = new URL("../../", import.meta.url).pathname;
const KEK = "startup-test-key-encryption-key-0123456789";

/** Runs the server until it exits, or until `until` matches its output (then SIGTERM). */
function run(env: Record<string, string>, until?: RegExp): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const onData = (d: Buffer) => {
    output += d.toString();
    if (until?.test(output)) child.kill("SIGTERM");
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, output })));
}

const oneLine = (t: Test, output: string, pattern: RegExp, what: string) => {
  // The log stream (JSON lines) may have started; the operator's message is the one other line.
  const lines = output
    .trim()
    .split("\n")
    .filter((l) => !l.startsWith("{"));
  t.equal(lines.length, 1, `${what}: one line (${output.trim().slice(0, 300)})`);
  t.match(lines[0], pattern, `${what}: names it`);
  t.notMatch(output, /\n\s+at /, `${what}: no stack trace`);
};

t.test("a REDIS_URL with a non-numeric port is one config error naming REDIS_URL, exit 2", async (t) => {
  const r = await run({ REDIS_URL: "redis://localhost:abc", DATA_DIR: join(tmpdir(), "never-opened") });
  t.equal(r.code, 2);
  oneLine(t, r.output, /^config error: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/, "REDIS_URL");
  const d = await run({ DATABASE_URL: "postgres://u:secret@host:5x/db", KEY_ENCRYPTION_KEY: KEK });
  t.equal(d.code, 2);
  oneLine(t, d.output, /^config error: DATABASE_URL must be a postgres/, "DATABASE_URL");
  t.notMatch(d.output, /secret/, "the URL's password is not repeated");
});

t.test("an unreachable DATABASE_URL says which service and where, in one line", async (t) => {
  const port = await freePort();
  const r = await run({ DATABASE_URL: `postgres://postgres:pw@127.0.0.1:${port}/x`, KEY_ENCRYPTION_KEY: KEK });
  t.equal(r.code, 1, "a backing service away is exit 1");
  oneLine(
    t,
    r.output,
    new RegExp(`^start-up error: cannot reach Postgres at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\): .*ECONNREFUSED`),
    "unreachable Postgres",
  );
  t.notMatch(r.output, /pw@/, "no credentials");
});

t.test("a DATABASE_URL naming a database that does not exist is a config error, exit 2", async (t) => {
  const url = new URL(postgresAdminUrl(`sa_missing_${process.pid}`));
  const r = await run({ DATABASE_URL: url.toString(), KEY_ENCRYPTION_KEY: KEK });
  t.equal(r.code, 2);
  oneLine(t, r.output, /^config error: DATABASE_URL: Postgres at .* has no such database \(3D000\)/, "missing database");
});

t.test("a KEY_ENCRYPTION_KEY that does not open the stored signing keys is a config error, exit 2", async (t) => {
  const { url, db } = await freshPostgres(t);
  await db.close();
  const first = await testApp(t, "postgres", { storage: { url } }); // seals keys under the fixtures' key
  await first.services.close();
  const r = await run({ DATABASE_URL: url, KEY_ENCRYPTION_KEY: KEK });
  t.equal(r.code, 2);
  oneLine(t, r.output, /^config error: KEY_ENCRYPTION_KEY does not open the signing keys/, "wrong key");
});

t.test("a PORT in use is a config error naming PORT, exit 2", async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", () => resolve()));
  t.teardown(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), "sa-startup-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const r = await run({ PORT: String(port), DATA_DIR: join(dir, "data") });
  t.equal(r.code, 2);
  t.match(r.output, new RegExp(`config error: PORT=${port}: 127\\.0\\.0\\.1:${port} is already in use`));
  t.notMatch(r.output, /\n\s+at /, "no stack trace");
});

t.test("a data folder in use by another process says so, naming DATA_DIR", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sa-startup-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const data = join(dir, "data");
  await mkdir(data, { mode: 0o700 });
  await writeFile(join(data, "session-authority.lock"), `${process.pid}\n`); // this test process: alive
  const r = await run({ DATA_DIR: data });
  t.equal(r.code, 1);
  oneLine(t, r.output, /^start-up error: DATA_DIR=.*: the data folder .* is in use by process \d+/, "folder in use");
});

t.test("an unreachable REDIS_URL does not stop the service, which says which Redis and where", { timeout: 60_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sa-startup-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const port = await freePort();
  const r = await run({ DATA_DIR: join(dir, "data"), REDIS_URL: `redis://127.0.0.1:${port}` }, /cannot reach Redis/);
  t.match(
    r.output,
    new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port} \\(REDIS_URL\\): running degraded`),
    "a warning naming REDIS_URL and where",
  );
  t.match(r.output, /Server listening/, "the service started");
});
