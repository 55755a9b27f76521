import { unseal } from "../crypto/seal.js";
import type { Clock } from "../domain/clock.js";
import { afterFailure } from "../domain/webhook-retry.js";
import type { AttemptOutcome, ClaimedDelivery, WebhookStore } from "../storage/prisma/webhook-store.js";
import { secretContext } from "./webhook-service.js";
import { sendDelivery } from "./webhook-sender.js";
import { signatureHeaders } from "./signature.js";

export interface WebhookWorkerOptions {
  store: WebhookStore;
  sealKey: Uint8Array;
  clock: Clock;
  /** SPEC §14: a receiver gets 10 s. */
  timeoutMs: number;
  /** Deliveries one instance sends at once. */
  batchSize: number;
  random?: () => number;
}

/**
 * Sends due deliveries. Every instance runs one; a claim (a row lock taken
 * with SKIP LOCKED, then a lease in the row) gives each delivery to one of
 * them. A sender that dies mid-send leaves a lease that lapses, and the
 * delivery is sent again: at least once, as receivers expect of webhooks.
 */
export class WebhookWorker {
  #running: Promise<number> | null = null;

  constructor(private readonly opts: WebhookWorkerOptions) {}

  /** One round; overlapping calls share it. Resolves with the number of attempts made. */
  tick(): Promise<number> {
    return (this.#running ??= this.#round().finally(() => (this.#running = null)));
  }

  /** Waits for the round in progress, if any (before closing the database). */
  async idle(): Promise<void> {
    await this.#running?.catch(() => {});
  }

  /** Batches until the due ones are done (a bounded number, so a flood cannot pin one tick). */
  async #round(): Promise<number> {
    const { store, clock, timeoutMs, batchSize } = this.opts;
    let attempts = 0;
    for (let batch = 0; batch < 50; batch++) {
      const now = clock.now();
      // The lease outlasts the send's own deadline, so a slow send is never claimed twice.
      const claimed = await store.claimDue(now, new Date(now.getTime() + 2 * timeoutMs + 30_000), batchSize);
      await Promise.all(claimed.map(async (d) => store.record(d.id, clock.now(), await this.#attempt(d))));
      attempts += claimed.length;
      if (claimed.length < batchSize) break;
    }
    return attempts;
  }

  async #attempt(d: ClaimedDelivery): Promise<AttemptOutcome> {
    const body = JSON.stringify(d.payload);
    let headers: Record<string, string>;
    try {
      const secret = unseal(this.opts.sealKey, d.secretSealed, secretContext(d.subscriptionId)).toString("utf8");
      headers = signatureHeaders(secret, d.id, Math.floor(this.opts.clock.now().getTime() / 1000), body);
    } catch {
      return this.#failed(d, null, "the webhook secret cannot be opened with KEY_ENCRYPTION_KEY");
    }
    const result = await sendDelivery(d.url, body, headers, { timeoutMs: this.opts.timeoutMs });
    if (result.status !== null && result.status >= 200 && result.status < 300) return { kind: "delivered", status: result.status };
    const error =
      result.status === null
        ? result.error
        : result.status < 400 && result.status >= 300
          ? `redirect ${result.status} not followed`
          : `status ${result.status}`;
    return this.#failed(d, result.status, error);
  }

  #failed(d: ClaimedDelivery, status: number | null, error: string): AttemptOutcome {
    const next = afterFailure(d.attempts, d.createdAt, this.opts.clock.now(), this.opts.random);
    return next.retry ? { kind: "retry", status, error, at: next.at } : { kind: "failed", status, error };
  }
}
