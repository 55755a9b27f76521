import type { Algorithm } from "../config.js";
import type { PublicJwk } from "./key-material.js";

export interface SigningKeyRecord {
  kid: string;
  alg: Algorithm;
  publicJwk: PublicJwk;
  privateKeySealed: Uint8Array;
  createdAt: Date;
  /** Published from createdAt; signs from activatesAt. */
  activatesAt: Date;
  retiredAt: Date | null;
  /** Unpublished after this instant. */
  expiresAt: Date | null;
  /** Declared compromised at this instant (SPEC §14). */
  revokedAt: Date | null;
}

/** Persistence of signing keys (Prisma in production, in-memory in unit tests). */
export interface KeyStore {
  list(): Promise<SigningKeyRecord[]>;
  insert(key: SigningKeyRecord): Promise<void>;
  /** Marks a key as superseded at `retiredAt`, published until `expiresAt`. */
  retire(kid: string, retiredAt: Date, expiresAt: Date): Promise<void>;
  /** Marks a key compromised: retired and unpublished at `at`. */
  revoke(kid: string, at: Date): Promise<void>;
  /** Runs fn under a lock shared by every instance (SPEC §8: rotation happens once). */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}
