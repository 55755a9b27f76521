/**
 * A revocation-list entry as it travels on the wire (SPEC §4), times in
 * epoch seconds. `{ sid }` stops every token of one session, `{ sid,
 * not_before }` those of one session issued before `not_before`; `{ sub,
 * not_before }` every token of one user issued (`iat`) before `not_before`.
 * `exp` is when the last token the entry stops expires anyway. `{ kid }`
 * stops every token signed by a compromised key (SPEC §14).
 */
export type RevocationEntry =
  | { sid: string; exp: number; not_before?: number }
  | { sub: string; exp: number; not_before: number }
  | { kid: string; exp: number };

/**
 * The verifier's copy of the revocation list: two maps, so checking a token
 * costs two lookups. Adding is a merge (entries only ever appear, and vanish
 * by expiry), so a snapshot, a poll and a stream batch can arrive in any
 * order and overlap without losing anything.
 */
export class RevocationSet {
  /** `notBefore` null: every token of the session. */
  private readonly sids = new Map<string, { notBefore: number | null; exp: number }>();
  private readonly subs = new Map<string, { notBefore: number; exp: number }>();
  private readonly kids = new Map<string, number>();

  /** `onKeyRevoked` runs when a kid entry is new here: the JWKS should be fetched again at once. */
  constructor(private readonly onKeyRevoked: (kid: string) => void = () => {}) {}

  /** Merges entries; those whose tokens have all expired by `nowSec` are skipped. */
  add(entries: readonly RevocationEntry[], nowSec: number): void {
    for (const e of entries) {
      if (e.exp <= nowSec) continue;
      if ("sid" in e) {
        const prev = this.sids.get(e.sid);
        const nb = e.not_before ?? null;
        // A whole-session entry wins: the session is revoked and issues nothing later.
        this.sids.set(
          e.sid,
          prev === undefined
            ? { notBefore: nb, exp: e.exp }
            : {
                notBefore: prev.notBefore === null || nb === null ? null : Math.max(prev.notBefore, nb),
                exp: Math.max(prev.exp, e.exp),
              },
        );
      } else if ("kid" in e) {
        const prev = this.kids.get(e.kid);
        if (prev === undefined || prev < e.exp) this.kids.set(e.kid, e.exp);
        if (prev === undefined) this.onKeyRevoked(e.kid);
      } else {
        const prev = this.subs.get(e.sub);
        // Merging keeps the later instant and the later expiry: an entry with a
        // later not_before also lives longer, so nothing live is over-revoked.
        this.subs.set(
          e.sub,
          prev === undefined
            ? { notBefore: e.not_before, exp: e.exp }
            : { notBefore: Math.max(prev.notBefore, e.not_before), exp: Math.max(prev.exp, e.exp) },
        );
      }
    }
  }

  /** Which entry, if any, stops a token with these claims at `nowSec`. */
  revokedBy(sid: string, sub: string, iat: number, nowSec: number, kid?: string): "sid" | "sub" | "kid" | null {
    const kidExp = kid === undefined ? undefined : this.kids.get(kid);
    if (kidExp !== undefined && kidExp > nowSec) return "kid";
    const session = this.sids.get(sid);
    if (session !== undefined && session.exp > nowSec && (session.notBefore === null || iat < session.notBefore)) return "sid";
    const user = this.subs.get(sub);
    if (user !== undefined && user.exp > nowSec && iat < user.notBefore) return "sub";
    return null;
  }

  /** Drops entries whose tokens have all expired: the list stays small. */
  prune(nowSec: number): void {
    for (const [k, v] of this.sids) if (v.exp <= nowSec) this.sids.delete(k);
    for (const [k, v] of this.subs) if (v.exp <= nowSec) this.subs.delete(k);
    for (const [k, exp] of this.kids) if (exp <= nowSec) this.kids.delete(k);
  }

  get size(): number {
    return this.sids.size + this.subs.size + this.kids.size;
  }
}
