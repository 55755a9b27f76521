/**
 * Single flight per presented refresh: concurrent requests of one instance
 * with the same token from the same device share one database attempt and
 * its answer. Without it, a burst of N retries queues N pooled connections
 * on one session row lock; with it, each instance sends one, and the
 * instances converge on one chain through the locked path (SPEC §3).
 * The key includes the device, so a request from another device is still
 * judged on its own (device-change policy).
 */
export class RefreshFlights<T> {
  readonly #flights = new Map<string, Promise<T>>();

  run(key: string, work: () => Promise<T>): Promise<T> {
    const inFlight = this.#flights.get(key);
    if (inFlight) return inFlight;
    const flight = work().finally(() => this.#flights.delete(key));
    this.#flights.set(key, flight);
    return flight;
  }
}
