/** How long a delivery is retried before it is given up (SPEC §14: at least 24 hours). */
export const RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;

const FIRST_DELAY_MS = 5_000;
const MAX_DELAY_MS = 60 * 60 * 1000;

export type RetryDecision = { retry: true; at: Date } | { retry: false };

/**
 * After failed attempt number `attempts` (1-based): exponential backoff from
 * 5 s, capped at an hour, with "equal jitter" (half fixed, half random) so
 * that receivers coming back are not hit by every instance at once. Given up
 * only once the first attempt is RETRY_WINDOW_MS old.
 */
export function afterFailure(attempts: number, createdAt: Date, now: Date, random: () => number = Math.random): RetryDecision {
  if (now.getTime() - createdAt.getTime() >= RETRY_WINDOW_MS) return { retry: false };
  const delay = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** Math.min(attempts - 1, 30));
  return { retry: true, at: new Date(now.getTime() + delay / 2 + random() * (delay / 2)) };
}
