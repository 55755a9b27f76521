import { localStore, onStorage, type KeyValueStorage } from "./globals.js";

/**
 * What the tabs of one origin share about the session. `gen` grows by one on
 * every change, each made under the tab lock, so the highest one is the
 * newest. Times are the page's clock, in milliseconds.
 */
export interface Snapshot {
  gen: number;
  /** null: signed out. */
  sessionId: string | null;
  /** When the access token expires, and when to refresh it ahead of that. */
  expiresAt: number;
  refreshAt: number;
  /** Cookie transport: the CSRF value to send as x-csrf-token. */
  csrf?: string;
  /** Bearer transport: the tokens (in memory, or in the caller's storage). */
  accessToken?: string;
  refreshToken?: string;
}

export const SIGNED_OUT = (gen: number): Snapshot => ({ gen, sessionId: null, expiresAt: 0, refreshAt: 0 });

type Message = { type: "state"; snapshot: Snapshot } | { type: "hello" };

/**
 * The snapshot as this tab knows it, kept in step with the other tabs by
 * BroadcastChannel (and storage events where that is missing). What is
 * persisted: cookie mode, everything (the CSRF value is no credential
 * alone); bearer mode, the tokens only in storage the caller supplied, and
 * otherwise a marker without them, so a tab under the lock can tell that
 * another one refreshed and wait for its message.
 */
export class SharedState {
  private current: Snapshot = SIGNED_OUT(0);
  private readonly channel: InstanceType<typeof BroadcastChannel> | undefined;
  private readonly store: KeyValueStorage | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly key: string,
    private readonly opts: { keepsTokens: boolean; storage?: KeyValueStorage; onAdopt: (previous: Snapshot, next: Snapshot) => void },
  ) {
    this.store = opts.storage ?? localStore();
    this.channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(key) : undefined;
    const stored = this.readStored();
    if (stored && this.usable(stored)) this.current = stored;
    if (this.channel) {
      this.channel.onmessage = (e: { data: unknown }) => this.receive(e.data as Message);
      this.channel.postMessage({ type: "hello" } satisfies Message);
    } else {
      onStorage((k, v) => k === this.key && v && this.adopt(parse(v)));
    }
  }

  get snapshot(): Snapshot {
    return this.current;
  }

  /** Makes `next` the newest snapshot here, in storage and in every other tab. */
  commit(next: Snapshot): void {
    const previous = this.current;
    this.current = next;
    this.write(next);
    this.channel?.postMessage({ type: "state", snapshot: next } satisfies Message);
    this.opts.onAdopt(previous, next);
    this.wake();
  }

  /**
   * Under the lock: catch up with a change another tab committed whose
   * message has not arrived yet, waiting up to `waitMs` for its tokens.
   */
  async catchUp(waitMs: number): Promise<void> {
    const stored = this.readStored();
    if (!stored || stored.gen <= this.current.gen) return;
    if (this.usable(stored)) return this.adopt(stored);
    const deadline = Date.now() + waitMs;
    while (this.current.gen < stored.gen && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, deadline - Date.now());
        this.waiters.add(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  private receive(m: Message): void {
    if (m.type === "hello") {
      if (this.current.gen > 0) this.channel?.postMessage({ type: "state", snapshot: this.current } satisfies Message);
      return;
    }
    this.adopt(m.snapshot);
  }

  private adopt(next: Snapshot | null): void {
    if (!next || next.gen <= this.current.gen || !this.usable(next)) return;
    const previous = this.current;
    this.current = next;
    this.opts.onAdopt(previous, next);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters) w();
    this.waiters.clear();
  }

  /** A bearer snapshot without tokens (a marker) says a change happened, not what it was. */
  private usable(s: Snapshot): boolean {
    return s.sessionId === null || !this.opts.keepsTokens || s.accessToken !== undefined;
  }

  private write(s: Snapshot): void {
    const persisted = this.opts.keepsTokens && !this.opts.storage ? { ...s, accessToken: undefined, refreshToken: undefined } : s;
    try {
      this.store?.setItem(this.key, JSON.stringify(persisted));
    } catch {
      // storage full or refused: the channel still carries it
    }
  }

  private readStored(): Snapshot | null {
    try {
      return parse(this.store?.getItem(this.key) ?? null);
    } catch {
      return null;
    }
  }
}

function parse(v: string | null): Snapshot | null {
  if (!v) return null;
  try {
    const s = JSON.parse(v) as Snapshot;
    return typeof s.gen === "number" ? s : null;
  } catch {
    return null;
  }
}
