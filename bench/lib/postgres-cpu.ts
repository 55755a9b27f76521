import { readdir, readFile } from "node:fs/promises";

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  /** utime + stime, in seconds. */
  own: number;
  /** cutime + cstime (reaped children), in seconds. */
  children: number;
}

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

async function procStat(pid: number): Promise<ProcStat | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    // Fields after the command: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
    const f = stat.slice(close + 2).split(" ");
    return {
      pid,
      comm,
      ppid: Number(f[1]),
      own: (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND,
      children: (Number(f[13]) + Number(f[14])) / TICKS_PER_SECOND,
    };
  } catch {
    return null; // gone meanwhile
  }
}

/**
 * CPU time used so far by the local PostgreSQL server, in seconds: every
 * postgres process's own time, plus what the postmaster has collected from
 * the backends it already reaped. The difference of two readings therefore
 * counts backends that started and ended in between (pgbench's) as well as
 * long-lived pooled ones (the service's), and the server's background work
 * (WAL writer, checkpointer, autovacuum) that each load causes. Null when no
 * postgres process is visible (a remote BENCH_POSTGRES_URL).
 */
export async function postgresCpuSeconds(): Promise<number | null> {
  const pids = (await readdir("/proc")).filter((d) => /^\d+$/.test(d)).map(Number);
  const stats = (await Promise.all(pids.map(procStat))).filter((s): s is ProcStat => s !== null && s.comm === "postgres");
  if (stats.length === 0) return null;
  const ids = new Set(stats.map((s) => s.pid));
  let total = 0;
  for (const s of stats) {
    total += s.own;
    if (!ids.has(s.ppid)) total += s.children; // the postmaster
  }
  return total;
}

/** Runs fn and returns its result with the Postgres CPU microseconds it caused per unit of work (count(result)). */
export async function withPostgresCpu<T>(fn: () => Promise<T>, count: (r: T) => number): Promise<{ result: T; pgUsPerOp?: number }> {
  const before = await postgresCpuSeconds();
  const result = await fn();
  const after = await postgresCpuSeconds();
  const n = count(result);
  if (before === null || after === null || n <= 0) return { result };
  return { result, pgUsPerOp: ((after - before) * 1e6) / n };
}
