import t from "tap";
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("../../", import.meta.url).pathname;

function run(env: Record<string, string>, untilLine?: RegExp) {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  const seen = new Promise<void>((resolve) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      if (untilLine?.test(out)) resolve();
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, seen, exited, output: () => out };
}

t.test("bad configuration stops start-up with one line per problem and a non-zero exit", async (t) => {
  const p = run({ PORT: "eighty", ACCESS_TOKEN_TTL: "forever" });
  const code = await p.exited;
  t.equal(code, 2);
  const lines = p.output().trim().split("\n");
  t.equal(lines.length, 2, p.output());
  t.match(lines[0], /^config error: PORT/);
  t.match(lines[1], /^config error: ACCESS_TOKEN_TTL/);
});

t.test("a Sentinel list without the master's name stops start-up with exit 2 and one line naming the variable", async (t) => {
  const p = run({ REDIS_SENTINELS: "127.0.0.1:26379,127.0.0.1:26380" });
  t.teardown(() => void p.child.kill("SIGKILL"));
  // A build that ignored the list would start and keep running.
  let timer: NodeJS.Timeout | undefined;
  const running = new Promise<string>((resolve) => (timer = setTimeout(() => resolve("still running after 30 s"), 30_000)));
  t.equal(await Promise.race([p.exited, running]), 2);
  clearTimeout(timer);
  t.same(p.output().trim().split("\n"), [
    "config error: REDIS_SENTINEL_MASTER (the name the sentinels monitor) is required with REDIS_SENTINELS",
  ]);
});

t.test("embedded mode: the server starts, keeps data across a restart and exits 0 on SIGTERM", { timeout: 120_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sa-server-"));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const env = { DATA_DIR: join(dir, "data"), PORT: "0", HOST: "127.0.0.1", LOG_LEVEL: "info", COOKIE_SECURE: "false" };

  const first = run(env, /Server listening at (http:\/\/[\d.:]+)/);
  await first.seen;
  const base = /Server listening at (http:\/\/[\d.:]+)/.exec(first.output())![1]!;
  const kek = await stat(join(dir, "data", "key-encryption-key"));
  t.equal(kek.mode & 0o777, 0o600, "the generated key-encryption key is owner-only");
  const jwks1 = await (await fetch(`${base}/.well-known/jwks.json`)).json();
  first.child.kill("SIGTERM");
  t.equal(await first.exited, 0, "graceful shutdown exits 0");

  const second = run(env, /Server listening at (http:\/\/[\d.:]+)/);
  await second.seen;
  const base2 = /Server listening at (http:\/\/[\d.:]+)/.exec(second.output())![1]!;
  const jwks2 = await (await fetch(`${base2}/.well-known/jwks.json`)).json();
  t.same(jwks2, jwks1, "the signing key (and the database holding it) survived the restart");
  second.child.kill("SIGTERM");
  t.equal(await second.exited, 0);
  t.notMatch(first.output() + second.output(), /"password"|eyJ[A-Za-z0-9_-]{20,}\./, "nothing secret in the logs");
});
