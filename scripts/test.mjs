// Runs the suite: type check, then tap. tap's machine-readable summary is a
// comment line; this repeats it as the plain "N passed, N failed" line that
// CI reads, and exits with tap's exit code.
import { spawn, spawnSync } from "node:child_process";

const tsc = spawnSync("npx", ["--no-install", "tsc", "-p", "tsconfig.json", "--noEmit"], { stdio: "inherit" });
if (tsc.status !== 0) {
  console.log("typecheck: 0 passed, 1 failed");
  process.exit(tsc.status ?? 1);
}

const child = spawn("npx", ["--no-install", "tap", ...process.argv.slice(2)], { stdio: ["inherit", "pipe", "inherit"] });
let summary = null;
let buffered = "";
child.stdout.on("data", (chunk) => {
  process.stdout.write(chunk);
  buffered = (buffered + chunk.toString()).slice(-4096);
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?(?:, todo: \d+)?(?:, skip: (\d+))?/.exec(buffered);
  if (m) summary = { pass: Number(m[2] ?? 0), fail: Number(m[3] ?? 0), skip: Number(m[4] ?? 0) };
});
child.on("close", (code) => {
  if (summary) console.log(`\ntests: ${summary.pass} passed, ${summary.fail} failed, ${summary.skip} skipped`);
  process.exit(code ?? 1);
});
