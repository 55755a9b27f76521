/** A task run every `intervalMs`, never overlapping itself; `stop` waits for a run in progress. */
export interface Periodic {
  /** Runs the task now (unless it is running), e.g. when Redis reconnects. */
  kick(): void;
  stop(): Promise<void>;
}

export function startPeriodic(task: () => Promise<void>, intervalMs: number, onError: (err: unknown) => void): Periodic {
  let running: Promise<void> | null = null;
  let stopped = false;
  const run = () => {
    if (running || stopped) return;
    running = task()
      .catch(onError)
      .finally(() => {
        running = null;
      });
  };
  const timer = setInterval(run, intervalMs);
  timer.unref();
  return {
    kick: run,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
