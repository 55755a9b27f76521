import type { RevocationEntry } from "../domain/types.js";

/**
 * The in-process mirror of the revocation list (SPEC §4): sessions revoked
 * ("sid", all their tokens or, with a not_before, those issued before it)
 * and users revoked before an instant ("sub"). Entries drop out once the
 * tokens they stop would have expired anyway.
 */
export class RevocationList {
  /** `notBeforeSec` null: every token of the session. */
  private readonly sids = new Map<string, { notBeforeSec: number | null; expMs: number }>();
  private readonly subs = new Map<string, { notBeforeSec: number; expMs: number }>();
  private readonly kids = new Map<string, number>();
  /** Called when a signing key is first seen revoked (the key manager reloads to find its successor). */
  onKeyRevoked: (kid: string) => void = () => {};

  add(entries: Iterable<RevocationEntry>): void {
    for (const e of entries) {
      const expMs = e.expiresAt.getTime();
      if (e.kind === "sid") {
        this.sids.set(e.subject, mergeSid(this.sids.get(e.subject), e.notBefore, expMs));
      } else if (e.kind === "kid") {
        const known = this.kids.has(e.subject);
        this.kids.set(e.subject, Math.max(expMs, this.kids.get(e.subject) ?? 0));
        if (!known) this.onKeyRevoked(e.subject);
      } else {
        const notBeforeSec = Math.ceil(e.notBefore.getTime() / 1000);
        const prev = this.subs.get(e.subject);
        this.subs.set(e.subject, {
          notBeforeSec: Math.max(notBeforeSec, prev?.notBeforeSec ?? 0),
          expMs: Math.max(expMs, prev?.expMs ?? 0),
        });
      }
    }
  }

  /** Is a token with these claims revoked? `iat` in epoch seconds. */
  isRevoked(sid: string, sub: string, iat: number, nowMs: number): boolean {
    const session = this.sids.get(sid);
    if (session !== undefined && session.expMs > nowMs && (session.notBeforeSec === null || iat < session.notBeforeSec)) return true;
    const user = this.subs.get(sub);
    return user !== undefined && user.expMs > nowMs && iat < user.notBeforeSec;
  }

  /** Was the signing key `kid` revoked (SPEC §14 key compromise)? */
  isKeyRevoked(kid: string, nowMs: number): boolean {
    const exp = this.kids.get(kid);
    return exp !== undefined && exp > nowMs;
  }

  /** Drops entries whose tokens have all expired. */
  prune(nowMs: number): void {
    for (const [k, v] of this.sids) if (v.expMs <= nowMs) this.sids.delete(k);
    for (const [k, v] of this.subs) if (v.expMs <= nowMs) this.subs.delete(k);
    for (const [k, exp] of this.kids) if (exp <= nowMs) this.kids.delete(k);
  }

  get size(): number {
    return this.sids.size + this.subs.size + this.kids.size;
  }
}

/**
 * Two entries of one session as one: a whole-session entry wins (the session
 * is revoked, so it issues no later token to spare), else the later
 * not_before with the later expiry (the later entry's expiry bounds every
 * token issued before its instant).
 */
export function mergeSid(
  prev: { notBeforeSec: number | null; expMs: number } | undefined,
  notBefore: Date | undefined,
  expMs: number,
): { notBeforeSec: number | null; expMs: number } {
  const nb = notBefore === undefined ? null : Math.ceil(notBefore.getTime() / 1000);
  if (!prev) return { notBeforeSec: nb, expMs };
  return {
    notBeforeSec: prev.notBeforeSec === null || nb === null ? null : Math.max(prev.notBeforeSec, nb),
    expMs: Math.max(prev.expMs, expMs),
  };
}
