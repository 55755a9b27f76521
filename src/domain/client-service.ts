import type { Clock } from "./clock.js";
import type { ClientScope, ClientSecretHasher, ServiceClientRecord, ServiceClientStore } from "./client-ports.js";
import { invalidClient, invalidRequest, notFound } from "./errors.js";
import type { AuditLog } from "./ports.js";

/** A client whose credentials were verified. */
export interface AuthenticatedClient {
  id: string;
  scopes: readonly ClientScope[];
}

export interface ClientServiceDeps {
  store: ServiceClientStore;
  secrets: ClientSecretHasher;
  audit: AuditLog;
  clock: Clock;
  /**
   * How long a verified credential is trusted without reading the store.
   * Bounds how long a deleted client or a rotated secret still works on
   * another instance; changes made through this instance apply at once.
   */
  cacheTtlMs: number;
}

interface CacheEntry {
  fingerprint: Uint8Array;
  client: AuthenticatedClient;
  until: number;
  /** A re-verification is already under way (refresh ahead of expiry). */
  refreshing?: boolean;
}

/** Client ids are printable and bounded (the column is 64 characters). */
const CLIENT_ID = /^[A-Za-z0-9._~-]{1,64}$/;

/**
 * Service clients (SPEC §5): authentication for the service-facing API and
 * their lifecycle. Introspection is a hot path, so a verified credential is
 * kept briefly in memory: the next call costs one SHA-256 of the presented
 * secret and a constant-time compare, no database read and no slow hash.
 * In the second half of an entry's life one call re-verifies it in the
 * background, so a client calling steadily never waits for the store, and
 * concurrent misses for one credential share a single verification.
 */
export class ClientService {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, { fingerprint: Uint8Array; verification: Promise<AuthenticatedClient> }>();
  /** Bumped by every change to a client here: a verification that read the store before it must not re-cache. */
  private generation = 0;

  constructor(private readonly deps: ClientServiceDeps) {}

  /**
   * The client, if exactly these credentials were verified moments ago: the
   * hot path, which needs no rate-limit check because it does no slow work.
   * `fingerprint`, when given, must be `fingerprintOf(secret)`.
   */
  cached(id: string, secret: string, fingerprint?: Uint8Array): AuthenticatedClient | undefined {
    const hit = this.cache.get(id);
    const now = this.deps.clock.now().getTime();
    if (!hit || hit.until <= now) return undefined;
    fingerprint ??= this.deps.secrets.fingerprint(secret);
    if (!this.deps.secrets.same(hit.fingerprint, fingerprint)) return undefined;
    if (!hit.refreshing && hit.until - now < this.deps.cacheTtlMs / 2) {
      hit.refreshing = true;
      // A deleted client or rotated secret drops the entry; a store error leaves it to expire.
      this.verify(id, secret, fingerprint).catch(() => {
        if (this.cache.get(id) === hit) hit.refreshing = false;
      });
    }
    return hit.client;
  }

  /**
   * What `cached` compares in constant time, for a caller that presents the
   * same secret again and again (http: a verified Basic header) to compute once.
   */
  fingerprintOf(secret: string): Uint8Array {
    return this.deps.secrets.fingerprint(secret);
  }

  /** Verifies a client's credentials; every failure is the same `invalid_client`. */
  async authenticate(id: string, secret: string): Promise<AuthenticatedClient> {
    const { secrets, clock } = this.deps;
    const fingerprint = secrets.fingerprint(secret);
    const hit = this.cache.get(id);
    if (hit && hit.until > clock.now().getTime() && secrets.same(hit.fingerprint, fingerprint)) return hit.client;
    const pending = this.inflight.get(id);
    if (pending && secrets.same(pending.fingerprint, fingerprint)) return pending.verification;
    return this.verify(id, secret, fingerprint);
  }

  /** Reads the store and checks the secret; the result replaces the cache entry. */
  private verify(id: string, secret: string, fingerprint: Uint8Array): Promise<AuthenticatedClient> {
    const { secrets, clock, store, cacheTtlMs } = this.deps;
    const generation = this.generation;
    const verification = (async () => {
      const record = CLIENT_ID.test(id) ? await store.findLive(id) : null;
      if (!record || !(await secrets.verify(record.secretHash, secret))) {
        // Only the credential that was cached can un-cache itself (a wrong secret cannot evict a right one).
        const hit = this.cache.get(id);
        if (hit && secrets.same(hit.fingerprint, fingerprint)) this.cache.delete(id);
        throw invalidClient();
      }
      const client: AuthenticatedClient = { id: record.id, scopes: Object.freeze([...record.scopes]) };
      if (cacheTtlMs > 0 && generation === this.generation)
        this.cache.set(id, { fingerprint, client, until: clock.now().getTime() + cacheTtlMs });
      return client;
    })();
    // Concurrent misses for the same credential share this one verification.
    this.inflight.set(id, { fingerprint, verification });
    const forget = () => {
      if (this.inflight.get(id)?.verification === verification) this.inflight.delete(id);
    };
    verification.then(forget, forget);
    return verification;
  }

  /** A client changed here: its cached credential and any verification under way no longer count. */
  private forget(id: string): void {
    this.generation++;
    this.cache.delete(id);
    this.inflight.delete(id);
  }

  /** POST /admin/clients: a new client; the secret is returned once and only its hash kept. */
  async create(name: string, scopes: ClientScope[], actor: string): Promise<{ client: ServiceClientRecord; secret: string }> {
    if (scopes.length === 0) throw invalidRequest("a client needs at least one scope");
    const now = this.deps.clock.now();
    const secret = this.deps.secrets.generate();
    const client: ServiceClientRecord = {
      id: crypto.randomUUID(),
      name,
      secretHash: await this.deps.secrets.hash(secret, "random"),
      scopes: [...new Set(scopes)],
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
    };
    await this.deps.store.insert(client);
    await this.deps.audit.record({ type: "client_created", actor, detail: { client_id: client.id, name, scopes: client.scopes } }, now);
    return { client, secret };
  }

  /** POST /admin/clients/:id/secret: the old secret stops working at once on this instance. */
  async rotateSecret(id: string, actor: string): Promise<{ secret: string }> {
    const now = this.deps.clock.now();
    const secret = this.deps.secrets.generate();
    const ok = await this.deps.store.update(id, { secretHash: await this.deps.secrets.hash(secret, "random"), updatedAt: now });
    if (!ok) throw notFound("no such client");
    this.forget(id);
    await this.deps.audit.record({ type: "client_secret_rotated", actor, detail: { client_id: id } }, now);
    return { secret };
  }

  /** DELETE /admin/clients/:id (a soft delete: the id is never reused). */
  async remove(id: string, actor: string): Promise<void> {
    const now = this.deps.clock.now();
    if (!(await this.deps.store.update(id, { deletedAt: now, updatedAt: now }))) throw notFound("no such client");
    this.forget(id);
    await this.deps.audit.record({ type: "client_deleted", actor, detail: { client_id: id } }, now);
  }

  /**
   * SPEC §9: with ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET, a client with scope
   * `admin` and exactly that secret exists after start (recreated if deleted).
   */
  async ensureAdmin(id: string, secret: string): Promise<void> {
    if (!CLIENT_ID.test(id)) throw invalidRequest("ADMIN_CLIENT_ID must be 1-64 characters of A-Z a-z 0-9 . _ ~ -");
    const now = this.deps.clock.now();
    const existing = await this.deps.store.findLive(id);
    if (existing?.scopes.includes("admin") && (await this.deps.secrets.verify(existing.secretHash, secret))) return;
    await this.deps.store.upsert({
      id,
      name: existing?.name ?? "admin (ADMIN_CLIENT_ID)",
      secretHash: await this.deps.secrets.hash(secret, "chosen"),
      scopes: [...new Set<ClientScope>([...(existing?.scopes ?? []), "admin"])],
      createdAt: existing?.createdAt ?? now,
      updatedAt: now,
      deletedAt: null,
    });
    this.forget(id);
    await this.deps.audit.record(
      { type: "client_bootstrapped", actor: "system", detail: { client_id: id, source: "ADMIN_CLIENT_ID" } },
      now,
    );
  }

  /**
   * Embedded mode without ADMIN_CLIENT_*: on the very first start (no client
   * was ever created) makes an admin client and returns its credentials,
   * which the caller shows once.
   */
  async bootstrapAdmin(): Promise<{ id: string; secret: string } | null> {
    if ((await this.deps.store.count()) > 0) return null;
    const { client, secret } = await this.create("admin (first start)", ["admin"], "system");
    return { id: client.id, secret };
  }
}
