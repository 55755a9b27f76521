/**
 * The pub/sub channels of the revocation fan-out and the mirror lease. On a
 * Cluster one hash tag puts them all in one slot, so sharded pub/sub serves
 * them from one master in one order (redis-bus.ts); elsewhere they keep the
 * names earlier versions used, so instances of both versions hear each other.
 */
export interface RevocationChannels {
  /** Revoked entries, for every instance's mirror. */
  events: string;
  /** Fences an instance sends itself (revocation/mirror-lease.ts). */
  fence(instance: string): string;
  /** Acknowledgements of the batches an instance published. */
  ack(instance: string): string;
}

export function revocationChannels(prefix: string, sharded: boolean): RevocationChannels {
  const ns = sharded ? `${prefix}{rev}:` : `${prefix}rev:`;
  return { events: `${ns}events`, fence: (id) => `${ns}fence:${id}`, ack: (id) => `${ns}ack:${id}` };
}
