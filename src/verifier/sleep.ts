import { setTimeout as delay } from "node:timers/promises";

/**
 * Waits `ms` without holding the process open; false if `signal` aborted
 * first (the caller should stop).
 */
export async function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await delay(ms, undefined, { signal, ref: false });
    return true;
  } catch {
    return false;
  }
}
