/** What a service client may do (SPEC §5: service-facing and admin routes). */
export const CLIENT_SCOPES = ["introspect", "revoke", "revocations:read", "sessions:issue", "admin"] as const;

export type ClientScope = (typeof CLIENT_SCOPES)[number];

export const isClientScope = (s: string): s is ClientScope => (CLIENT_SCOPES as readonly string[]).includes(s);

/** A sibling service's credentials (RFC 6749 §2.3) as stored: only a hash of the secret. */
export interface ServiceClientRecord {
  id: string;
  name: string;
  /** `sha256:…` for generated secrets, `$argon2id$…` for operator-chosen ones. */
  secretHash: string;
  scopes: ClientScope[];
  createdAt: Date;
  updatedAt: Date;
  deletedAt: Date | null;
}

export interface ServiceClientStore {
  /** A client that is not deleted, or null. */
  findLive(id: string): Promise<ServiceClientRecord | null>;
  /** Throws the domain `conflict` error when the id is taken (even by a deleted client). */
  insert(client: ServiceClientRecord): Promise<void>;
  /** Creates or overwrites (and undeletes) the client with this id. */
  upsert(client: ServiceClientRecord): Promise<void>;
  /** Updates a live client; false if there is none. */
  update(
    id: string,
    patch: Partial<Pick<ServiceClientRecord, "name" | "secretHash" | "scopes" | "deletedAt">> & { updatedAt: Date },
  ): Promise<boolean>;
  /** How many clients were ever created (deleted ones included). */
  count(): Promise<number>;
}

/**
 * Hashes and checks client secrets. Generated secrets carry 256 bits, so a
 * plain SHA-256 is enough; operator-chosen ones get a memory-hard hash.
 */
export interface ClientSecretHasher {
  /** `random`: a secret we generated; `chosen`: one an operator picked (ADMIN_CLIENT_SECRET). */
  hash(secret: string, origin: "random" | "chosen"): Promise<string>;
  /** Constant-time for SHA-256 hashes (SPEC §6). */
  verify(stored: string, secret: string): Promise<boolean>;
  /** A fingerprint of a presented secret, for the in-process cache (never stored). */
  fingerprint(secret: string): Uint8Array;
  /** Constant-time comparison of two fingerprints. */
  same(a: Uint8Array, b: Uint8Array): boolean;
  /** A new high-entropy secret. */
  generate(): string;
}
