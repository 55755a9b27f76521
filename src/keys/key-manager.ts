import type { CryptoKey } from "jose";
import type { Algorithm } from "../config.js";
import type { Clock } from "../domain/clock.js";
import { UnavailableError } from "../domain/errors.js";
import { generateSigningKey, importPublicKey, openPrivateKey, type PublicJwk } from "./key-material.js";
import type { KeyStore, SigningKeyRecord } from "./key-store.js";

export interface KeyPolicy {
  algorithm: Algorithm;
  rotationIntervalMs: number;
  /** A new key is published this long before it signs (≥ any JWKS cache period). */
  prepublishMs: number;
  /** Longest access-token lifetime: how long a retired key stays published. */
  accessTokenTtlMs: number;
}

export type KeyState = "next" | "active" | "retired" | "expired";

interface LoadedKey {
  record: SigningKeyRecord;
  publicKey: CryptoKey;
  privateKey: CryptoKey | null;
}

/** Allowance for clock skew between instances and verifiers. */
const SKEW_MS = 60_000;

/**
 * Owns the signing keys: which one signs, which are published, and rotation
 * (SPEC §2). Publish first, sign later: a new key appears in the JWKS at least
 * `prepublishMs` before any token carries its kid, and a retired key stays
 * published until the last token it signed has expired.
 */
export class KeyManager {
  private keys: LoadedKey[] = [];

  constructor(
    private readonly store: KeyStore,
    private readonly sealingKey: Uint8Array,
    private readonly policy: KeyPolicy,
    private readonly clock: Clock,
  ) {}

  /** Reads every key from the store; private halves only of keys that may still sign. */
  async reload(): Promise<void> {
    const now = this.clock.now();
    const records = await this.store.list();
    const loaded: LoadedKey[] = [];
    for (const record of records) {
      if (record.expiresAt !== null && record.expiresAt <= now) continue;
      const mayStillSign = record.retiredAt === null || record.retiredAt > now;
      loaded.push({
        record,
        publicKey: await importPublicKey(record.publicJwk),
        privateKey: mayStillSign ? await openPrivateKey(record.kid, record.alg, record.privateKeySealed, this.sealingKey) : null,
      });
    }
    this.keys = loaded.sort((a, b) => a.record.activatesAt.getTime() - b.record.activatesAt.getTime());
  }

  /**
   * Makes sure a key signs now and the next one is pre-published when due.
   * Runs under the store's cross-instance lock, so it happens once.
   */
  async ensure(): Promise<void> {
    await this.store.withLock(async () => {
      const now = this.clock.now();
      const records = await this.store.list();
      const active = activeOf(records, now);
      const pending = records.some((r) => r.activatesAt > now);
      if (!active && !pending) {
        // First start: no verifier can have cached a JWKS yet, so sign at once.
        await this.create(now, now);
      } else if (active && !pending && now.getTime() >= active.activatesAt.getTime() + this.policy.rotationIntervalMs - this.policy.prepublishMs) {
        await this.createNext(active, now);
      }
    });
    await this.reload();
  }

  /** Rotation on demand: pre-publishes a successor (or returns the pending one). */
  async rotate(): Promise<SigningKeyRecord> {
    const next = await this.store.withLock(async () => {
      const now = this.clock.now();
      const records = await this.store.list();
      const pending = records.find((r) => r.activatesAt > now);
      if (pending) return pending;
      const active = activeOf(records, now);
      return active ? this.createNext(active, now) : this.create(now, now);
    });
    await this.reload();
    return next;
  }

  /** The key that signs at this instant. */
  signingKey(): { kid: string; alg: Algorithm; privateKey: CryptoKey } {
    const now = this.clock.now();
    for (let i = this.keys.length - 1; i >= 0; i--) {
      const k = this.keys[i]!;
      if (k.record.activatesAt <= now && k.privateKey !== null) {
        return { kid: k.record.kid, alg: k.record.alg, privateKey: k.privateKey };
      }
    }
    throw new UnavailableError("no signing key is loaded");
  }

  /** The public key for a kid, if it is still published. */
  verificationKey(kid: string): { alg: Algorithm; key: CryptoKey } | undefined {
    const now = this.clock.now();
    const k = this.keys.find((x) => x.record.kid === kid);
    if (!k || (k.record.expiresAt !== null && k.record.expiresAt <= now)) return undefined;
    return { alg: k.record.alg, key: k.publicKey };
  }

  /** Every published key: the active one, the pre-published next one, and retired ones still in use. */
  jwks(): { keys: PublicJwk[] } {
    const now = this.clock.now();
    return {
      keys: this.keys
        .filter((k) => k.record.expiresAt === null || k.record.expiresAt > now)
        .map((k) => k.record.publicJwk),
    };
  }

  /** Keys with their state, for the admin API. */
  list(): Array<{ kid: string; alg: Algorithm; state: KeyState; createdAt: Date; activatesAt: Date; retiredAt: Date | null; expiresAt: Date | null }> {
    const now = this.clock.now();
    const active = activeOf(this.keys.map((k) => k.record), now);
    return this.keys.map(({ record: r }) => ({
      kid: r.kid,
      alg: r.alg,
      state: stateOf(r, active, now),
      createdAt: r.createdAt,
      activatesAt: r.activatesAt,
      retiredAt: r.retiredAt,
      expiresAt: r.expiresAt,
    }));
  }

  /** Pre-publishes a successor of `current`, which retires when it activates. */
  private async createNext(current: SigningKeyRecord, now: Date): Promise<SigningKeyRecord> {
    const activatesAt = new Date(now.getTime() + this.policy.prepublishMs);
    const next = await this.create(now, activatesAt);
    await this.store.retire(current.kid, activatesAt, new Date(activatesAt.getTime() + this.policy.accessTokenTtlMs + SKEW_MS));
    return next;
  }

  private async create(now: Date, activatesAt: Date): Promise<SigningKeyRecord> {
    const generated = await generateSigningKey(this.policy.algorithm, this.sealingKey);
    const record: SigningKeyRecord = {
      kid: generated.kid,
      alg: generated.alg,
      publicJwk: generated.publicJwk,
      privateKeySealed: generated.privateKeySealed,
      createdAt: now,
      activatesAt,
      retiredAt: null,
      expiresAt: null,
    };
    await this.store.insert(record);
    return record;
  }
}

function activeOf(records: SigningKeyRecord[], now: Date): SigningKeyRecord | undefined {
  return records
    .filter((r) => r.activatesAt <= now && (r.expiresAt === null || r.expiresAt > now))
    .sort((a, b) => b.activatesAt.getTime() - a.activatesAt.getTime())[0];
}

function stateOf(r: SigningKeyRecord, active: SigningKeyRecord | undefined, now: Date): KeyState {
  if (r.expiresAt !== null && r.expiresAt <= now) return "expired";
  if (r.activatesAt > now) return "next";
  return active?.kid === r.kid ? "active" : "retired";
}
