/** What a verified HTTP Basic header decodes to, and its secret's fingerprint (ClientService.fingerprintOf). */
export interface BasicCredential {
  id: string;
  secret: string;
  fingerprint: Uint8Array;
}

/**
 * Basic headers that authenticated recently, so the client's next call
 * skips decoding the header and hashing the secret: a header always decodes
 * to the same id and secret, so this remembers a computation, not a
 * decision. Whether the credential is still good is asked of the client
 * cache on every request (ClientService.cached: its TTL, and a rotated
 * secret or deleted client drops out there at once). Only headers that
 * authenticated are added (strangers cannot fill it), a header that then
 * fails is dropped, and the oldest go first beyond `maxEntries`.
 */
export class VerifiedBasicHeaders {
  readonly #entries = new Map<string, BasicCredential>();

  constructor(private readonly maxEntries = 1_024) {}

  get(header: string): BasicCredential | undefined {
    return this.#entries.get(header);
  }

  remember(header: string, credential: BasicCredential): void {
    if (this.#entries.has(header)) return;
    if (this.#entries.size >= this.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(header, credential);
  }

  forget(header: string): void {
    this.#entries.delete(header);
  }

  get size(): number {
    return this.#entries.size;
  }
}
