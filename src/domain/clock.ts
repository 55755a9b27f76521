/** The only source of time for the domain, so tests can move it (no sleeps). */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
