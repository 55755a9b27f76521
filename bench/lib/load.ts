import { firstJsonLine, spawnNode, type Child } from "./child.js";
import type { LoadJob, LoadResult } from "./load-job.js";
import { withScope } from "./scope.js";

export type { LoadJob, LoadResult } from "./load-job.js";

/** Runs one bounded load from a separate process (bench/lib/load-worker.ts); optionally samples a process's RSS meanwhile. */
export async function runLoad(job: LoadJob, opts: { sampleRssOf?: Child } = {}): Promise<LoadResult & { peakRss?: number }> {
  return withScope(async (scope) => {
    const worker = spawnNode(scope, "bench/lib/load-worker.ts", { label: "load generator" });
    worker.process.stdin!.end(JSON.stringify(job));
    let peakRss: number | undefined;
    let timer: NodeJS.Timeout | undefined;
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
      const result = await firstJsonLine<LoadResult>(worker, (job.durationSec + 60) * 1000, "load generator");
      return peakRss === undefined ? result : { ...result, peakRss };
    } finally {
      if (timer) clearInterval(timer);
    }
  });
}
