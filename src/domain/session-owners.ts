import type { SessionStore } from "./ports.js";

/**
 * Who owns a session, for the introspection fast path: the mirror and Redis
 * know which sessions are revoked, not whose they are, and a token whose
 * `sub` is not its session's owner must be inactive there exactly as on the
 * Postgres path (session-liveness.ts). A session's owner never changes and
 * its id is never reused, so an answer is remembered for good (bounded,
 * oldest out). Sessions this instance issues are learnt as they are
 * written; only the first introspection of another instance's session
 * reads Postgres.
 */
export class SessionOwners {
  readonly #owners = new Map<string, string | null>();

  constructor(
    private readonly sessions: Pick<SessionStore, "findSession">,
    private readonly maxEntries = 100_000,
  ) {}

  /** Records the owner of a session being issued (its id is new: nothing to contradict). */
  learn(sid: string, owner: string): void {
    if (this.#owners.size >= this.maxEntries) this.#owners.delete(this.#owners.keys().next().value!);
    this.#owners.set(sid, owner);
  }

  async owns(sub: string, sid: string): Promise<boolean> {
    let owner = this.#owners.get(sid);
    if (owner === undefined) {
      owner = (await this.sessions.findSession(sid))?.userId ?? null;
      // An unknown session is not remembered: it may be one committing now.
      if (owner !== null) this.learn(sid, owner);
    }
    return owner === sub;
  }
}
