import type { CryptoKey } from "jose";
import type { Algorithm } from "../config.js";
import type { Clock } from "../domain/clock.js";
import { notFound, UnavailableError } from "../domain/errors.js";
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

/** A stored private key that the configured KEY_ENCRYPTION_KEY cannot open. */
export class SealedKeyError extends Error {
  override name = "SealedKeyError";
  constructor(
    readonly kid: string,
    options: { cause: unknown },
  ) {
    super(
      `signing key ${kid} cannot be opened: KEY_ENCRYPTION_KEY is not the one it was sealed with, or the stored key is corrupt`,
      options,
    );
  }
}

/**
 * Owns the signing keys: which one signs, which are published, and rotation
 * (SPEC §2). Publish first, sign later: a new key appears in the JWKS at least
 * `prepublishMs` before any token carries its kid, and a retired key stays
 * published until the last token it signed has expired.
 */
export class KeyManager {
  private keys: LoadedKey[] = [];
  /** Reloads overlap (timer, rotate(), unknown kid); only the newest read may win. */
  private reloadsStarted = 0;
  private reloadApplied = 0;
  /** Kids the revocation list says are compromised: known here before this instance reloads. */
  private revokedKid: (kid: string, nowMs: number) => boolean = () => false;

  constructor(
    private readonly store: KeyStore,
    private readonly sealingKey: Uint8Array,
    private readonly policy: KeyPolicy,
    private readonly clock: Clock,
  ) {
    checkPolicy(policy);
  }

  /**
   * Reads every key from the store; private halves only of keys that may
   * still sign. Throws SealedKeyError when a key cannot be opened: better
   * not to start than to mint a replacement and strand every live token.
   */
  async reload(): Promise<void> {
    const seq = ++this.reloadsStarted;
    const now = this.clock.now();
    const records = await this.store.list();
    const previous = new Map(this.keys.map((k) => [k.record.kid, k]));
    const loaded: LoadedKey[] = [];
    for (const record of records) {
      if ((record.expiresAt !== null && record.expiresAt <= now) || record.revokedAt !== null) continue;
      const mayStillSign = record.retiredAt === null || record.retiredAt > now;
      // A kid's key material never changes, only its dates: reuse what is open.
      const prev = previous.get(record.kid);
      loaded.push({
        record,
        publicKey: prev?.publicKey ?? (await importPublicKey(record.publicJwk)),
        privateKey: mayStillSign ? (prev?.privateKey ?? (await this.open(record))) : null,
      });
    }
    // A reload that read the store earlier but finished later must not undo a newer one.
    if (seq < this.reloadApplied) return;
    this.reloadApplied = seq;
    this.keys = loaded.sort((a, b) => a.record.activatesAt.getTime() - b.record.activatesAt.getTime());
  }

  private async open(record: SigningKeyRecord): Promise<CryptoKey> {
    try {
      return await openPrivateKey(record.kid, record.alg, record.privateKeySealed, this.sealingKey);
    } catch (cause) {
      throw new SealedKeyError(record.kid, { cause });
    }
  }

  /**
   * Makes sure a key signs now and the next one is pre-published when due.
   * Runs under the store's cross-instance lock, so it happens once.
   */
  async ensure(): Promise<void> {
    await this.store.withLock(async () => {
      const now = this.clock.now();
      const records = await this.retireSuperseded(await this.store.list());
      const active = activeOf(records, now);
      const pending = records.some((r) => r.activatesAt > now);
      if (!active && !pending) {
        // First start: no verifier can have cached a JWKS yet, so sign at once.
        await this.create(now, now);
      } else if (
        active &&
        !pending &&
        now.getTime() >= active.activatesAt.getTime() + this.policy.rotationIntervalMs - this.policy.prepublishMs
      ) {
        await this.createNext(active, now);
      }
    });
    await this.reload();
  }

  /** Consults the revocation mirror, so a key revoked by another instance stops here at once. */
  honourRevocations(isRevoked: (kid: string, nowMs: number) => boolean): void {
    this.revokedKid = isRevoked;
  }

  /**
   * Key compromise (SPEC §14): unpublishes `kid` and stops it signing now.
   * If it could still sign (active or next), a new key signs at once,
   * skipping the pre-publication wait: verifiers meeting its kid refetch
   * the JWKS. Idempotent. The caller lists the kid as revoked.
   */
  async revoke(kid: string): Promise<{ revoked: SigningKeyRecord; replacement: SigningKeyRecord | null }> {
    const r = await this.store.withLock(async () => {
      const now = this.clock.now();
      const target = (await this.retireSuperseded(await this.store.list())).find((k) => k.kid === kid);
      if (!target) return null;
      if (target.revokedAt !== null) return { revoked: target, replacement: null };
      const couldSign = target.retiredAt === null || target.retiredAt > now;
      await this.store.revoke(kid, now);
      const replacement = couldSign ? await this.create(now, now) : null;
      return { revoked: { ...target, revokedAt: now, retiredAt: now, expiresAt: now }, replacement };
    });
    if (!r) throw notFound("no such signing key");
    await this.reload();
    return r;
  }

  /** Rotation on demand: pre-publishes a successor (or returns the pending one). */
  async rotate(): Promise<SigningKeyRecord> {
    const next = await this.store.withLock(async () => {
      const now = this.clock.now();
      const records = await this.retireSuperseded(await this.store.list());
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
      if (k.record.activatesAt <= now && k.privateKey !== null && !this.revokedKid(k.record.kid, now.getTime())) {
        return { kid: k.record.kid, alg: k.record.alg, privateKey: k.privateKey };
      }
    }
    throw new UnavailableError("no signing key is loaded");
  }

  /** The public key for a kid, if it is still published. */
  verificationKey(kid: string): { alg: Algorithm; key: CryptoKey } | undefined {
    const now = this.clock.now();
    const k = this.keys.find((x) => x.record.kid === kid);
    if (!k || (k.record.expiresAt !== null && k.record.expiresAt <= now) || this.revokedKid(kid, now.getTime())) return undefined;
    return { alg: k.record.alg, key: k.publicKey };
  }

  /** Every published key: the active one, the pre-published next one, and retired ones still in use. */
  jwks(): { keys: PublicJwk[] } {
    const now = this.clock.now();
    return {
      keys: this.keys
        .filter((k) => (k.record.expiresAt === null || k.record.expiresAt > now) && !this.revokedKid(k.record.kid, now.getTime()))
        .map((k) => k.record.publicJwk),
    };
  }

  /** Keys with their state, for the admin API. */
  list(): Array<{
    kid: string;
    alg: Algorithm;
    state: KeyState;
    createdAt: Date;
    activatesAt: Date;
    retiredAt: Date | null;
    expiresAt: Date | null;
  }> {
    const now = this.clock.now();
    const active = activeOf(
      this.keys.map((k) => k.record),
      now,
    );
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

  /**
   * Crash safety: inserting a successor and retiring its predecessor are two
   * writes, and a failure between them leaves a key that would stay
   * published forever. Retire any such key as createNext() would have: when
   * its successor activates. Runs under the lock; returns the records as
   * they now stand.
   */
  private async retireSuperseded(records: SigningKeyRecord[]): Promise<SigningKeyRecord[]> {
    const sorted = [...records].sort((a, b) => a.activatesAt.getTime() - b.activatesAt.getTime());
    for (let i = 0; i < sorted.length - 1; i++) {
      const r = sorted[i]!;
      if (r.retiredAt !== null) continue;
      const at = sorted[i + 1]!.activatesAt;
      const expiresAt = new Date(at.getTime() + this.policy.accessTokenTtlMs + SKEW_MS);
      await this.store.retire(r.kid, at, expiresAt);
      sorted[i] = { ...r, retiredAt: at, expiresAt };
    }
    return sorted;
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
      revokedAt: null,
    };
    await this.store.insert(record);
    return record;
  }
}

/** Refuses a policy under which a key could sign before verifiers can have it (SPEC §2). */
function checkPolicy(p: KeyPolicy): void {
  if (!(p.prepublishMs > 0)) throw new Error("KeyPolicy: prepublishMs must be positive: a key is published before it signs");
  if (!(p.rotationIntervalMs > p.prepublishMs)) throw new Error("KeyPolicy: rotationIntervalMs must be longer than prepublishMs");
  if (!(p.accessTokenTtlMs > 0)) throw new Error("KeyPolicy: accessTokenTtlMs must be positive: retired keys stay published that long");
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
