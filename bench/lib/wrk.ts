// The write loads (refresh, issuance) on wrk: a C load generator whose
// per-request cost is close to pgbench's client, the baseline they are
// compared with. autocannon's per-request JavaScript hooks cost 135-190 µs
// of CPU per refresh on the bench machine against wrk's 37 µs: on two cores
// shared with the service and Postgres, that difference alone moved the
// measured rotations/s by about a fifth.
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { ROOT } from "./child.js";
import { issueBody, loadHeaders, type LoadJob, type LoadResult } from "./load-job.js";

const SCRIPT = join(ROOT, "bench", "lib", "wrk-load.lua");

/** Throws a clear message when wrk is not on the PATH (Debian/Ubuntu: `apt-get install wrk`). */
export async function requireWrk(): Promise<void> {
  // `wrk --version` prints its banner and exits 1, so its output decides, not its exit code.
  const banner = await promisify(execFile)("wrk", ["--version"]).then(
    (r) => r.stdout,
    (err: { stdout?: unknown }) => String(err.stdout ?? ""),
  );
  if (!banner.includes("wrk")) throw new Error("the refresh benchmark needs wrk on the PATH (Debian/Ubuntu: apt-get install wrk)");
}

interface WrkResult {
  requests: number;
  durationUs: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  bad: number;
  p50: number;
  p90: number;
  p99: number;
  remaining: string[];
}

/** One wrk run of a refresh-chain or issue job; resolves with the same LoadResult as the autocannon worker. */
export async function runWrk(job: LoadJob): Promise<LoadResult> {
  const b = job.body;
  let lines: string[];
  if (b.kind === "refresh-chain") lines = b.tokens;
  else if (b.kind === "issue") lines = b.subjects.map((subject) => issueBody(b, subject));
  else throw new Error(`wrk runs refresh-chain and issue loads, not ${b.kind}`);
  const threads = Math.min(2, job.connections);
  const dir = await mkdtemp(join(tmpdir(), "sa-bench-wrk-"));
  try {
    const data = join(dir, "data.txt");
    await writeFile(data, `${lines.join("\n")}\n`);
    const args = [
      "-t",
      String(threads),
      "-c",
      String(job.connections),
      "-d",
      `${job.durationSec}s`,
      "--timeout",
      "10s",
      ...Object.entries(loadHeaders(job)).flatMap(([k, v]) => ["-H", `${k}: ${v}`]),
      "-s",
      SCRIPT,
      job.url,
      "--",
      b.kind === "refresh-chain" ? "refresh-chain" : "bodies",
      data,
      job.method,
      job.path,
      job.expect ?? "",
      String(threads),
    ];
    const { stdout, cpuSeconds } = await runTimed("wrk", args, (job.durationSec + 60) * 1000);
    const line = stdout.split("\n").find((l) => l.startsWith("WRK-RESULT "));
    if (!line) throw new Error(`unexpected wrk output:\n${stdout}`);
    const r = JSON.parse(line.slice("WRK-RESULT ".length)) as WrkResult;
    const seconds = r.durationUs / 1e6;
    const errors = r.connect + r.read + r.write;
    return {
      rps: (r.requests - r.status - r.bad) / seconds,
      p50: r.p50,
      p90: r.p90,
      p99: r.p99,
      total: r.requests,
      non2xx: r.status,
      errors,
      timeouts: r.timeout,
      bad: r.bad,
      loadGeneratorCpuUsPerRequest: r.requests > 0 ? (cpuSeconds * 1e6) / r.requests : 0,
      ...(b.kind === "refresh-chain" ? { remainingTokens: r.remaining } : {}),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs a command to completion; its stdout and the CPU time it used (user + system, from getrusage via bash's `time`). */
function runTimed(cmd: string, args: string[], timeoutMs: number): Promise<{ stdout: string; cpuSeconds: number }> {
  return new Promise((resolve, reject) => {
    // bash's `time` keyword reports the child's rusage on stderr in the TIMEFORMAT given.
    const child = spawn("bash", ["-c", 'TIMEFORMAT="CPU %3U %3S"; time "$@"', "bash", cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const m = /CPU ([\d.]+) ([\d.]+)\s*$/.exec(stderr);
      if (code !== 0 || !m) return reject(new Error(`${cmd} failed (exit ${code}):\n${stderr.slice(-2000)}`));
      resolve({ stdout, cpuSeconds: Number(m[1]) + Number(m[2]) });
    });
  });
}
