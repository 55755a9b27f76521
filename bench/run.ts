// npm run bench [-- --only introspect,verifier] [--quick]
// Runs the benchmarks one after another and prints one Markdown table of
// measured figures, the baselines measured in the same run, their ratios and
// the goals. Progress goes to standard error, the table to standard output.
import { cpus, loadavg } from "node:os";
import { parseArgs } from "node:util";
import type { BenchContext } from "./lib/context.js";
import { closeAllScopes } from "./lib/scope.js";
import { markdownTable, type Row } from "./lib/table.js";

const BENCHMARKS: Record<string, () => Promise<{ run(ctx: BenchContext): Promise<Row[]> }>> = {
  introspect: () => import("./introspect.js"),
  verifier: () => import("./verifier.js"),
  refresh: () => import("./refresh.js"),
  propagation: () => import("./propagation.js"),
  growth: () => import("./growth.js"),
  // Not in the default run: ten minutes on its own.
  soak: () => import("./soak.js"),
  // Not in the default run: the SPEC §14 cost, on demand.
  "security-events": () => import("./security-events.js"),
  // Not in the default run: SPEC §10's policy change on 100 000 sessions, on demand.
  "policy-change": () => import("./policy-change.js"),
};
const DEFAULT_RUN = ["introspect", "verifier", "refresh", "propagation", "growth"];

const USAGE = `usage: npm run bench -- [--only ${Object.keys(BENCHMARKS).join(",")}] [--quick]
  --only LIST        run only these benchmarks (comma-separated)
  --quick            short runs for a smoke check (not for publishing)
  --runs N           measured runs per figure (default 3; quick 1)
  --duration S       seconds per measured load run (default 5; quick 2)
  --connections N    connections of the introspection load (default 32)`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      only: { type: "string" },
      quick: { type: "boolean", default: false },
      runs: { type: "string" },
      duration: { type: "string" },
      connections: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const names = values.only
    ? values.only
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : DEFAULT_RUN;
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(", ")}\n${USAGE}\n`);
    return 2;
  }
  const positive = (raw: string | undefined, fallback: number, name: string) => {
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a whole number ≥ 1`);
    return n;
  };
  const quick = values.quick ?? false;
  const ctx: BenchContext = {
    quick,
    connections: positive(values.connections, 32, "connections"),
    writeConnections: 8,
    durationSec: positive(values.duration, quick ? 2 : 5, "duration"),
    runs: positive(values.runs, quick ? 1 : 3, "runs"),
    warmupSec: quick ? 1 : 2,
    log: (m) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${m}\n`),
  };

  const started = new Date();
  const [l1, l5] = loadavg();
  ctx.log(
    `${cpus().length} cores, load average ${l1!.toFixed(2)} / ${l5!.toFixed(2)} (1 / 5 min); ${names.join(", ")}${quick ? " (quick)" : ""}`,
  );
  const rows: Row[] = [];
  let failed = false;
  for (const name of names) {
    const t0 = Date.now();
    try {
      const mod = await BENCHMARKS[name]!();
      rows.push(...(await mod.run(ctx)));
    } catch (err) {
      failed = true;
      ctx.log(`${name} FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      rows.push({ benchmark: `${name}: failed (see the log)`, measured: "—", baseline: "—", ratio: "—", goal: "—", met: false });
    }
    ctx.log(`${name} took ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  }
  const [e1, e5] = loadavg();
  const settings = `load average ${l1!.toFixed(1)} at the start, ${e1!.toFixed(1)} / ${e5!.toFixed(1)} (1 / 5 min) at the end; ${ctx.runs} run(s) × ${ctx.durationSec} s per load figure (median), ${ctx.connections} connections for reads, ${ctx.writeConnections} for writes`;
  process.stdout.write(
    `\n${markdownTable(rows)}\n\n${started.toISOString()}, ${cpus().length} cores, node ${process.version}; ${settings}${quick ? "; QUICK: smoke check only" : ""}\n`,
  );
  return failed ? 1 : 0;
}

let interrupted = false;
const interrupt = (signal: string) => {
  if (interrupted) process.exit(130);
  interrupted = true;
  process.stderr.write(`\n${signal}: stopping everything the benchmark started…\n`);
  void closeAllScopes().finally(() => process.exit(130));
};
process.on("SIGINT", () => interrupt("SIGINT"));
process.on("SIGTERM", () => interrupt("SIGTERM"));

main().then(
  (code) => process.exit(code),
  async (err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await closeAllScopes();
    process.exit(1);
  },
);
