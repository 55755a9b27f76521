import type { Clock } from "../domain/clock.js";
import type { RevocationCheck } from "../domain/revocation-ports.js";
import type { RevocationList } from "./revocation-list.js";

/** What a shared store (Redis) knows of one token's session and user. */
export interface SharedLookup {
  lookup(sid: string, sub: string): Promise<{ sidRevoked: boolean; sidNotBeforeSec: number | null; subNotBeforeSec: number | null }>;
}

/**
 * The layered check behind /introspect, cheapest first:
 * 1. the in-process mirror (a hit is final: revocations are never undone),
 *    and a miss is final too while the instance holds a mirror lease
 *    (revocation/mirror-lease.ts): revokers wait for it before answering;
 * 2. the shared store, written before any revoking call answers, so a miss
 *    there is as good as Postgres' answer;
 * 3. Postgres, when the shared store errs or there is none.
 * With neither (embedded: one process, which revokes through its own
 * mirror) the mirror is the whole list.
 */
export function layeredRevocationCheck(deps: {
  mirror: RevocationList;
  clock: Clock;
  shared?: SharedLookup;
  durable?: RevocationCheck;
  /** True while a miss in the mirror is as good as Postgres' answer. */
  mirrorTrusted?: () => boolean;
  onSharedError?: (err: unknown) => void;
}): RevocationCheck {
  return {
    async isRevoked(token) {
      if (deps.mirror.isRevoked(token.sid, token.sub, token.iat, deps.clock.now().getTime())) return true;
      if (deps.mirrorTrusted?.()) return false;
      if (deps.shared) {
        try {
          const r = await deps.shared.lookup(token.sid, token.sub);
          return (
            r.sidRevoked ||
            (r.sidNotBeforeSec !== null && token.iat < r.sidNotBeforeSec) ||
            (r.subNotBeforeSec !== null && token.iat < r.subNotBeforeSec)
          );
        } catch (err) {
          deps.onSharedError?.(err);
          if (!deps.durable) throw err;
        }
      }
      return deps.durable ? deps.durable.isRevoked(token) : false;
    },
  };
}
