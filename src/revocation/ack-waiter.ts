import { randomBytes } from "node:crypto";

/** A live lease in the registry: its holder and how long it still runs (Redis' clock). */
export interface LeaseHolder {
  id: string;
  remainingMs: number;
}

export interface LeaseRegistry {
  /**
   * Every live lease, and how long ago the registry itself was (re)created:
   * a registry younger than a lease may have lost leases (a Redis restart or
   * flush) whose holders still trust their mirrors.
   */
  leases(): Promise<{ holders: LeaseHolder[]; registryAgeMs: number }>;
}

/** What a revoking call waits on: the acknowledgements of one published batch. */
export interface AckTicket {
  /** Sent with the batch; receivers acknowledge it by this tag. */
  readonly tag: string;
  readonly acked: Set<string>;
  wake?: () => void;
}

/**
 * The revoker's half of the mirror lease (revocation/mirror-lease.ts): after
 * a batch is published, wait until every other instance holding a live lease
 * has acknowledged it, or its lease has run out, so that once the revoking
 * call answers no instance trusts a mirror without the batch (SPEC §4).
 * Acknowledgements usually arrive within a millisecond; the wait is bounded
 * by the lease length.
 */
export class AckWaiter {
  private readonly open = new Map<string, AckTicket>();

  constructor(
    private readonly deps: {
      selfId: string;
      registry: LeaseRegistry;
      leaseMs: number;
      now?: () => number;
      onError?: (err: unknown) => void;
    },
  ) {}

  /** Opens a ticket before publishing, so acknowledgements that beat the registry read count. */
  ticket(): AckTicket {
    const ticket: AckTicket = { tag: `${this.deps.selfId}.${randomBytes(8).toString("hex")}`, acked: new Set() };
    this.open.set(ticket.tag, ticket);
    return ticket;
  }

  /** An instance acknowledged the batch with this tag. */
  acknowledged(tag: string, from: string): void {
    const ticket = this.open.get(tag);
    if (!ticket) return;
    ticket.acked.add(from);
    ticket.wake?.();
  }

  /** Forgets a ticket whose batch was never published. */
  discard(ticket: AckTicket): void {
    this.open.delete(ticket.tag);
  }

  /** Waits for the batch's acknowledgements; call after the publish has completed. */
  async settle(ticket: AckTicket): Promise<void> {
    const now = this.deps.now ?? (() => performance.now());
    try {
      let registry: Awaited<ReturnType<LeaseRegistry["leases"]>>;
      try {
        registry = await this.deps.registry.leases();
      } catch (err) {
        // Unknown leases: any instance may trust its mirror for up to a lease.
        this.deps.onError?.(err);
        await sleep(this.deps.leaseMs);
        return;
      }
      const start = now();
      const deadlines = new Map<string, number>();
      for (const h of registry.holders) if (h.id !== this.deps.selfId) deadlines.set(h.id, start + h.remainingMs);
      // A young registry may have lost leases still trusted: wait those out.
      const orphanDeadline = registry.registryAgeMs < this.deps.leaseMs ? start + this.deps.leaseMs - registry.registryAgeMs : start;
      for (;;) {
        const t = now();
        let next = orphanDeadline > t ? orphanDeadline : Number.POSITIVE_INFINITY;
        for (const [id, deadline] of deadlines) {
          if (ticket.acked.has(id) || deadline <= t) deadlines.delete(id);
          else if (deadline < next) next = deadline;
        }
        if (next === Number.POSITIVE_INFINITY) return;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, Math.ceil(next - t)));
          ticket.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        ticket.wake = undefined;
      }
    } finally {
      this.open.delete(ticket.tag);
    }
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
