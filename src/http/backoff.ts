import { AppError, RateLimitedError } from "../domain/errors.js";
import type { AuditLog } from "../domain/ports.js";
import type { Clock } from "../domain/clock.js";
import type { AttemptKey, AttemptLimiter, GatedKey } from "../rate-limit/attempt-limiter.js";

/** The keys of one attempt: checked and charged on failure, and those a success clears. */
export interface BackoffKeys {
  /** Checked before the attempt and charged on a failure. */
  keys: AttemptKey[];
  /** Checked only when their gate has failures (attempt-limiter.ts); charged on a failure too. */
  gated?: GatedKey[];
  /** Cleared by a success: never an address's own key. */
  resetOnSuccess?: AttemptKey[];
}

export interface BackoffDeps {
  attempts: AttemptLimiter;
  auditLog: AuditLog;
  clock: Clock;
}

/**
 * Runs an attempt under exponential backoff (SPEC §6): refused with 429 while
 * any of its keys is blocked (a gated key only for callers with failures of
 * their own); a failure (`invalid_grant`) counts against every key; a
 * success clears only `resetOnSuccess` (the account's keys). IP keys are
 * never cleared by a success: otherwise an attacker could wipe their IP's
 * count by logging into an account of their own between guesses. Only
 * failures count, so normal use at full speed never meets a limit.
 */
export async function withBackoff<T>(
  deps: BackoffDeps,
  limit: string,
  { keys, gated = [], resetOnSuccess = [] }: BackoffKeys,
  context: { ip: string | null; userAgent: string | null },
  work: () => Promise<T>,
): Promise<T> {
  try {
    await deps.attempts.check(keys, gated);
  } catch (err) {
    if (err instanceof RateLimitedError) {
      await deps.auditLog.record(
        { type: "rate_limited", actor: "anonymous", ...context, detail: { limit, keys, retry_after: err.retryAfterSeconds } },
        deps.clock.now(),
      );
    }
    throw err;
  }
  try {
    const result = await work();
    if (resetOnSuccess.length > 0) await deps.attempts.succeed(resetOnSuccess);
    return result;
  } catch (err) {
    if (err instanceof AppError && err.code === "invalid_grant") {
      const outcome = await deps.attempts.fail([...keys, ...gated.map((g) => g.key)]);
      if (outcome.blocked.length > 0) {
        await deps.auditLog.record(
          {
            type: "rate_limited",
            actor: "anonymous",
            ...context,
            detail: { limit, keys: outcome.blocked, retry_after: outcome.retryAfterSeconds, started: true },
          },
          deps.clock.now(),
        );
      }
    }
    throw err;
  }
}
