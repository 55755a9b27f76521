/**
 * When may an instance answer introspection from its in-process mirror
 * alone, without asking Redis? While it holds a lease that every revoking
 * instance honours: a revoker, after publishing, waits until each instance
 * with a live lease has acknowledged the revocation or its lease has run out
 * (revocation/ack-waiter.ts). So an instance trusts its mirror only
 *
 * - within a lease it registered in Redis before a fence it then received
 *   back through its subscription: pub/sub delivers in publish order, so
 *   every revocation published before the fence is in the mirror by then,
 *   and every one published later finds the lease and waits for this
 *   instance's acknowledgement;
 * - until that lease's end by its own monotonic clock, minus a margin for
 *   clock-rate drift (Redis measures the lease on its own clock);
 * - and not at all from the moment its subscription drops until it has
 *   caught up from Postgres after resubscribing (messages published while it
 *   was away are lost, but their rows are committed).
 *
 * Otherwise introspection falls back to Redis, then Postgres, per request.
 */
export interface LeaseBus {
  /** Registers (or extends) this instance's lease for `leaseMs`, measured by Redis. */
  renew(leaseMs: number): Promise<void>;
  /** Publishes a fence with this token on the instance's own fence channel. */
  fence(token: string): Promise<void>;
  /** Drops the lease (graceful shutdown), so revokers stop waiting for this instance. */
  release(): Promise<void>;
}

export interface MirrorLeaseOptions {
  bus: LeaseBus;
  /** Reads what the mirror may have missed (the Postgres poll); runs before trust is regained. */
  catchUp(): Promise<void>;
  /** Lease length (Redis' clock). */
  leaseMs: number;
  /** How often the lease is renewed (well under leaseMs, so one lost round keeps trust). */
  renewEveryMs: number;
  /** Trust ends this much before the lease does, for clock-rate drift and scheduling. */
  marginMs: number;
  /** A fence not back within this long fails the round. */
  fenceTimeoutMs: number;
  /** Monotonic milliseconds (performance.now), never the domain clock. */
  now?: () => number;
  onError?: (err: unknown) => void;
}

export class MirrorLease {
  private trustedUntil = Number.NEGATIVE_INFINITY;
  /** Bumped whenever the subscription drops: a round that began before cannot grant trust. */
  private generation = 0;
  /** The generation whose catch-up is done; trust needs it to equal `generation`. */
  private caughtUp = -1;
  private fenceSeq = 0;
  private readonly fences = new Map<string, () => void>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly now: () => number;

  constructor(private readonly opts: MirrorLeaseOptions) {
    this.now = opts.now ?? (() => performance.now());
  }

  /** May introspection answer "not revoked" from the mirror alone right now? */
  trusted(): boolean {
    return this.now() < this.trustedUntil;
  }

  /** Starts the renewal rounds (the first at once); a stopped lease stays stopped. */
  start(): void {
    this.schedule(0);
  }

  /** The subscription dropped (or is reconnecting): distrust at once, catch up before trusting again. */
  subscriptionLost(): void {
    this.trustedUntil = Number.NEGATIVE_INFINITY;
    this.generation++;
  }

  /** A fence came back through the subscription. */
  fenceReceived(token: string): void {
    this.fences.get(token)?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.trustedUntil = Number.NEGATIVE_INFINITY;
    clearTimeout(this.timer);
    await this.opts.bus.release().catch(() => {});
  }

  /** One renewal round; exposed for tests. */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const generation = this.generation;
      if (this.caughtUp !== generation) {
        // A first fence proves the subscription is live again; only reads
        // after that point are sure to meet every message that follows.
        if (!(await this.roundTrip())) return;
        await this.opts.catchUp();
        if (this.generation !== generation) return;
        this.caughtUp = generation;
      }
      const started = this.now();
      await this.opts.bus.renew(this.opts.leaseMs);
      if (!(await this.roundTrip())) return;
      if (this.generation !== generation || this.stopped) return;
      this.trustedUntil = Math.max(this.trustedUntil, started + this.opts.leaseMs - this.opts.marginMs);
    } catch (err) {
      this.opts.onError?.(err);
    } finally {
      this.running = false;
    }
  }

  /** Publishes a fence and waits for it to come back; false on timeout. */
  private async roundTrip(): Promise<boolean> {
    const token = `${++this.fenceSeq}`;
    let timer: NodeJS.Timeout | undefined;
    const back = new Promise<boolean>((resolve) => {
      this.fences.set(token, () => resolve(true));
      timer = setTimeout(() => resolve(false), this.opts.fenceTimeoutMs);
    });
    try {
      await this.opts.bus.fence(token);
      return await back;
    } finally {
      clearTimeout(timer);
      this.fences.delete(token);
    }
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.round().finally(() => this.schedule(this.opts.renewEveryMs));
    }, delayMs);
    this.timer.unref();
  }
}
