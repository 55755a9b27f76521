import { firstJsonLine, spawnNode, type Child } from "./child.js";
import type { LoadJob, LoadResult } from "./load-job.js";
import { withScope } from "./scope.js";
import { runWrk } from "./wrk.js";

export type { LoadJob, LoadResult } from "./load-job.js";

/**
 * Runs one bounded load from a separate process (bench/lib/load-worker.ts,
 * or wrk for jobs with `engine: "wrk"`);
 * optionally samples a process's RSS meanwhile and measures its CPU time per
 * answer (a figure that, unlike requests/s, other work on the machine barely moves).
 */
export async function runLoad(
  job: LoadJob,
  opts: { sampleRssOf?: Child } = {},
): Promise<LoadResult & { peakRss?: number; cpuUsPerRequest?: number }> {
  return withScope(async (scope) => {
    const produce = (): Promise<LoadResult> => {
      if (job.engine === "wrk") return runWrk(job);
      const worker = spawnNode(scope, "bench/lib/load-worker.ts", { label: "load generator" });
      worker.process.stdin!.end(JSON.stringify(job));
      return firstJsonLine<LoadResult>(worker, (job.durationSec + 60) * 1000, "load generator");
    };
    let peakRss: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    const cpuBefore = await opts.sampleRssOf?.cpuSeconds().catch(() => undefined);
    if (opts.sampleRssOf) {
      const target = opts.sampleRssOf;
      timer = setInterval(() => {
        target.rss().then(
          (r) => (peakRss = Math.max(peakRss ?? 0, r)),
          () => {},
        );
      }, 250);
    }
    try {
      const result = await produce();
      const cpuAfter = await opts.sampleRssOf?.cpuSeconds().catch(() => undefined);
      // Includes the load generator's start-up: the target is idle then, so it barely counts.
      const answers = result.total;
      const cpuUsPerRequest =
        cpuBefore !== undefined && cpuAfter !== undefined && answers > 0 ? ((cpuAfter - cpuBefore) * 1e6) / answers : undefined;
      return { ...result, ...(peakRss === undefined ? {} : { peakRss }), ...(cpuUsPerRequest === undefined ? {} : { cpuUsPerRequest }) };
    } finally {
      if (timer) clearInterval(timer);
    }
  });
}
