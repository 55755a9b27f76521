/** Settings every benchmark module receives from bench/run.ts. */
export interface BenchContext {
  /** Shorter runs for a smoke check; the numbers are then not for publishing. */
  quick: boolean;
  /** Pinned connection count of the HTTP read loads (introspection). */
  connections: number;
  /** Connection count of the write loads (refresh, issuance) and pgbench's client count. */
  writeConnections: number;
  /** Seconds per measured load run. */
  durationSec: number;
  /** Measured runs per figure; the median is reported. */
  runs: number;
  /** Unmeasured warm-up before the measured runs, in seconds. */
  warmupSec: number;
  /** Progress, to standard error. */
  log(message: string): void;
}
