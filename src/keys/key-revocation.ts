import type { Clock } from "../domain/clock.js";
import type { RevocationService } from "../domain/revocation-service.js";
import type { KeyManager } from "./key-manager.js";

/** Allowance for instances whose mirror learns of the revocation a moment later, and for clock skew. */
const SKEW_MS = 60_000;

/**
 * Key compromise (SPEC §14): the key leaves the JWKS and stops signing, a new
 * key signs at once, and a `{ kid, exp }` entry on the revocation list stops
 * every token the key signed, on every instance and verifier, until the last
 * of them would have expired anyway. Repeating it is harmless: a revocation
 * interrupted after the key was marked still gets its list entry.
 */
export class KeyRevocation {
  constructor(private readonly deps: { keys: KeyManager; revocations: RevocationService; clock: Clock; accessTokenTtlMs: number }) {}

  async revoke(kid: string, actor: string): Promise<{ kid: string; replacementKid: string | null }> {
    const { keys, revocations, clock, accessTokenTtlMs } = this.deps;
    const { replacement } = await keys.revoke(kid);
    const expiresAt = new Date(clock.now().getTime() + accessTokenTtlMs + SKEW_MS);
    await revocations.revokeKey(kid, expiresAt, actor, { replacement_kid: replacement?.kid ?? null });
    return { kid, replacementKid: replacement?.kid ?? null };
  }
}
