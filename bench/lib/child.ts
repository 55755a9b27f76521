import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Scope } from "./scope.js";

/** The repository root (bench/lib/../..). */
export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface Child {
  readonly pid: number;
  readonly process: ChildProcess;
  /** The last lines it wrote to stderr (for error messages). */
  stderrTail(): string;
  /** Resident set size now, in bytes (Linux /proc). */
  rss(): Promise<number>;
  /** CPU time (user + system, all threads) used so far, in seconds (Linux /proc). */
  cpuSeconds(): Promise<number>;
  /** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts `node --import tsx <script>` (a TypeScript entry point run from the
 * repository root) in its own process, stopped when the scope closes.
 */
export function spawnNode(
  scope: Scope,
  script: string,
  opts: { env?: Record<string, string>; args?: string[]; nodeArgs?: string[]; label: string },
): Child {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), "--import", "tsx", script, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start ${opts.label}`);
  let tail = "";
  child.stdout!.on("data", () => {}); // keep draining: a full pipe would stall the child
  child.stderr!.on("data", (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopping: Promise<void> | undefined;
  const handle: Child = {
    pid: child.pid,
    process: child,
    stderrTail: () => tail,
    async rss() {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
      if (!m) throw new Error(`no VmRSS for ${opts.label}`);
      return Number(m[1]) * 1024;
    },
    async cpuSeconds() {
      // Fields 14 and 15 of /proc/PID/stat (utime, stime), in clock ticks of 1/100 s on Linux.
      const stat = await readFile(`/proc/${child.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      return (Number(fields[11]) + Number(fields[12])) / 100;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  scope.defer(`${opts.label} (pid ${child.pid})`, () => handle.stop());
  return handle;
}

/** Resolves with the first stdout line that parses as JSON; rejects if the child exits or times out first. */
export function firstJsonLine<T>(child: Child, timeoutMs: number, label: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => fail(new Error(`${label} did not report within ${timeoutMs} ms\n${child.stderrTail()}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line.startsWith("{")) continue;
        try {
          const value = JSON.parse(line) as T;
          cleanup();
          resolve(value);
          return;
        } catch {
          // not ours; keep reading
        }
      }
    };
    const onExit = (code: number | null) => fail(new Error(`${label} exited (${code}) before reporting\n${child.stderrTail()}`));
    const cleanup = () => {
      clearTimeout(timer);
      child.process.stdout!.off("data", onData);
      child.process.off("exit", onExit);
    };
    const fail = (err: Error) => {
      cleanup();
      reject(err);
    };
    child.process.stdout!.on("data", onData);
    child.process.once("exit", onExit);
  });
}
