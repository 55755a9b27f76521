// Runs the suite: type check, lint and format check, then tap, then the
// domain's coverage check. tap's machine-readable summary is a comment line;
// this repeats it as the plain "N passed, N failed" line that CI reads, and
// exits with tap's exit code (or the first failing step's).
import { spawn, spawnSync } from "node:child_process";

for (const [step, args] of [
  ["typecheck", ["tsc", "-p", "tsconfig.json", "--noEmit"]],
  ["lint and format", ["biome", "ci", "--reporter=summary", "."]],
]) {
  const r = spawnSync("npx", ["--no-install", ...args], { stdio: "inherit" });
  if (r.status !== 0) {
    console.log(`${step}: 0 passed, 1 failed`);
    process.exit(r.status ?? 1);
  }
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
  // A filtered run (file arguments) covers only part of the domain: the check is for the whole suite.
  if (code === 0 && process.argv.length <= 2) {
    const coverage = spawnSync("node", ["scripts/coverage-check.mjs"], { stdio: "inherit" });
    process.exit(coverage.status ?? 1);
  }
  process.exit(code ?? 1);
});
