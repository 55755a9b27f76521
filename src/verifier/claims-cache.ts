/** Claims of a token whose signature, header and registered claims were verified once. */
export interface CachedClaims<C extends { exp: number }> {
  claims: C;
  /** The key that signed it: entries go when their key leaves the JWKS. */
  kid: string;
}

/**
 * Verified claims keyed by the exact token string, so a repeated token costs
 * a Map lookup instead of a signature check. Bounded (least recently used
 * goes first) and entries never outlive their token's `exp`. Only what
 * cannot change is cached: the per-call checks (transport, revocation,
 * staleness, expiry) run on every hit.
 */
export class ClaimsCache<C extends { exp: number }> {
  private readonly map = new Map<string, CachedClaims<C>>();

  constructor(private readonly maxEntries: number) {}

  /** The entry for a token, unless it has expired at `nowSec` (then it is dropped). */
  get(token: string, nowSec: number): CachedClaims<C> | undefined {
    const hit = this.map.get(token);
    if (hit === undefined) return undefined;
    this.map.delete(token);
    // Same expiry rule as jose: expired once exp <= now (RFC 7519 §4.1.4).
    if (hit.claims.exp <= nowSec) return undefined;
    this.map.set(token, hit); // re-insert: Map order is recency order
    return hit;
  }

  set(token: string, entry: CachedClaims<C>): void {
    if (this.maxEntries <= 0) return;
    this.map.delete(token);
    while (this.map.size >= this.maxEntries) {
      const oldest = this.map.keys().next();
      if (oldest.done) break;
      this.map.delete(oldest.value);
    }
    this.map.set(token, entry);
  }

  /** Drops entries of expired tokens. */
  prune(nowSec: number): void {
    for (const [token, e] of this.map) if (e.claims.exp <= nowSec) this.map.delete(token);
  }

  /** Drops entries signed by keys no longer published (e.g. a key withdrawn after compromise). */
  retainKids(published: ReadonlySet<string>): void {
    for (const [token, e] of this.map) if (!published.has(e.kid)) this.map.delete(token);
  }

  get size(): number {
    return this.map.size;
  }
}
