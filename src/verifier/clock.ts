/**
 * Where the verifier reads the time: token expiry, revocation-entry expiry,
 * list staleness and the JWKS cooldown. Background timers still run on real
 * time; only the decisions read this clock, so tests can move it.
 */
export interface VerifierClock {
  now(): Date;
}

export const systemClock: VerifierClock = { now: () => new Date() };
