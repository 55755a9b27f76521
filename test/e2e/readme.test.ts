// The README's quick start, as a new user meets it: `npm start` (a restart
// with nothing changed skips the build), then the walk-through's commands,
// taken from README.md itself and run exactly as written with bash and curl
// against the running service on a fresh embedded install. Only the port is
// changed (a free one instead of 3000) and the data folder is a fresh one.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { freePort } from "../fixtures/free-port.js";
import { eventually } from "../fixtures/eventually.js";

const root = new URL("../../", import.meta.url).pathname;

/** The ```sh blocks of the README between two headings, in order. */
export function shellBlocks(readme: string, from: string, to: string): string[] {
  const start = readme.indexOf(from);
  const end = readme.indexOf(to, start);
  if (start < 0 || end < 0) throw new Error(`README has no section from ${from} to ${to}`);
  return [...readme.slice(start, end).matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

const npm = (args: string[]) =>
  spawnSync("npm", args, { cwd: root, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });

t.test(
  "npm start restarts without rebuilding, and the README's walk-through works as written against it",
  { timeout: 600_000 },
  async (t) => {
    // The first build (if anything changed) is what a fresh clone pays once.
    const first = npm(["run", "--silent", "prestart"]);
    t.equal(first.status, 0, `the build step succeeds ${first.stderr.slice(-500)}`);
    const before = (await stat(join(root, "dist", "server.js"))).mtimeMs;
    const started = Date.now();
    const again = npm(["run", "--silent", "prestart"]);
    t.equal(again.status, 0);
    t.match(again.stdout, /up to date/, "with nothing changed, the build step says so");
    t.equal((await stat(join(root, "dist", "server.js"))).mtimeMs, before, "and writes nothing: dist/server.js is untouched");
    t.comment(`build step with nothing changed: ${Date.now() - started} ms`);

    const dir = await mkdtemp(join(tmpdir(), "sa-readme-"));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    const port = await freePort();
    const server = spawn("npm", ["start", "--silent"], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PORT: String(port),
        DATA_DIR: join(dir, "data"),
        npm_config_update_notifier: "false",
      },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let serverOutput = "";
    server.stdout.on("data", (d: Buffer) => (serverOutput += d.toString()));
    server.stderr.on("data", (d: Buffer) => (serverOutput += d.toString()));
    const exited = new Promise((resolve) => server.once("exit", resolve));
    t.teardown(async () => {
      // npm starts node as a child: signal the group, as a terminal's Ctrl-C does.
      if (server.exitCode === null) process.kill(-server.pid!, "SIGTERM");
      await exited;
    });
    const startAt = Date.now();
    await eventually(
      async () =>
        await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      120_000,
      200,
    );
    t.comment(`npm start to the first 200 from /healthz (fresh data folder, no build): ${Date.now() - startAt} ms`);

    const readme = await readFile(join(root, "README.md"), "utf8");
    const blocks = shellBlocks(readme, "## Walk-through with curl", "**Introspection** (RFC 7662)");
    t.ok(blocks.length >= 2, `the walk-through and the sibling example (${blocks.length} blocks)`);
    const script = blocks.join("\n").replaceAll("localhost:3000", `localhost:${port}`);
    const run = spawnSync("bash", ["--norc", "--noprofile", "-euo", "pipefail", "-c", script], {
      cwd: dir,
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      timeout: 120_000,
    });
    t.equal(run.status, 0, `the walk-through runs to the end (stderr: ${run.stderr.slice(-800)}; server: ${serverOutput.slice(-800)})`);
    t.match(run.stdout, /"username":"alice"/, "the user was created");
    t.match(run.stdout, /"current":true/, "the session listing shows the current session");
    t.match(run.stdout, /HTTP\/1\.1 204/, "logout answered 204");
    // Once for the logged-out token, once for the token from before the role change (its own grep -x checks that one).
    t.equal(run.stdout.match(/\{"active":false\}/g)?.length, 2, "the sibling's introspection of the logged-out token says inactive");
    t.match(run.stdout, /"role":"viewer"/, "the token refreshed after the role change carries the new role");
  },
);
