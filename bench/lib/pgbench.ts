import { execFile } from "node:child_process";
import { URL } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Connection flags for pgbench from a postgres:// URL. */
function connArgs(url: string): string[] {
  const u = new URL(url);
  return ["-h", u.hostname, "-p", u.port || "5432", "-U", decodeURIComponent(u.username || "postgres"), u.pathname.slice(1)];
}

/** `pgbench -i -s <scale>` on the database at url (quiet). */
export async function pgbenchInit(url: string, scale = 1): Promise<void> {
  await run("pgbench", ["-i", "-q", "-s", String(scale), ...connArgs(url)], { timeout: 300_000 });
}

export interface PgbenchResult {
  /** Transactions per second, without initial connection time. */
  tps: number;
  /** Transactions processed. */
  transactions: number;
}

/** One `pgbench -b simple-update` run. */
export async function pgbenchSimpleUpdate(url: string, clients: number, seconds: number): Promise<PgbenchResult> {
  const threads = Math.min(clients, 2);
  const { stdout } = await run(
    "pgbench",
    ["-n", "-b", "simple-update", "-c", String(clients), "-j", String(threads), "-T", String(seconds), ...connArgs(url)],
    { timeout: (seconds + 60) * 1000 },
  );
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const n = /number of transactions actually processed: (\d+)/.exec(stdout);
  if (!m || !n) throw new Error(`unexpected pgbench output:\n${stdout}`);
  return { tps: Number(m[1]), transactions: Number(n[1]) };
}
