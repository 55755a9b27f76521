import { ApplicationCache } from "./applications/application-cache.js";
import { ApplicationService } from "./domain/application-service.js";
import { createApplicationRepository } from "./storage/applications/application-repository.js";
import type { ApplicationPolicy } from "./domain/applications.js";
import type { Config } from "./config.js";
import { deriveKey } from "./crypto/seal.js";
import { createPasswordHasher, type Argon2Params } from "./crypto/password.js";
import { createClientSecretHasher } from "./clients/client-secrets.js";
import { AccessAuthenticator } from "./domain/access-auth.js";
import { ClientService } from "./domain/client-service.js";
import { systemClock, type Clock } from "./domain/clock.js";
import { ClaimsService } from "./domain/claims-service.js";
import { DelegatedIssuer } from "./domain/delegated-issue.js";
import { ForwardAuth } from "./domain/forward-auth.js";
import { IntrospectionService } from "./domain/introspection.js";
import type { AccessTokenVerifier, SessionStore, UserStore } from "./domain/ports.js";
import { RevocationService } from "./domain/revocation-service.js";
import { storeRevocationCheck } from "./domain/session-liveness.js";
import { SessionOwners } from "./domain/session-owners.js";
import { SessionService } from "./domain/session-service.js";
import { TokenRevocation } from "./domain/token-revocation.js";
import { UserService } from "./domain/user-service.js";
import { embeddedKeyEncryptionKey, saveAdminCredentials } from "./embedded-secrets.js";
import { createAccessTokenSigner, createAccessTokenVerifier } from "./keys/access-tokens.js";
import { KeyManager } from "./keys/key-manager.js";
import { KeyRevocation } from "./keys/key-revocation.js";
import { cacheVerifiedClaims } from "./keys/verified-claims-cache.js";
import { parseUserAgent } from "./lib/user-agent.js";
import type { RevocationFeed } from "./revocation/revocation-feed.js";
import type { RevocationList } from "./revocation/revocation-list.js";
import type { RevocationListing } from "./revocation/revocation-listing.js";
import { createRevocationRuntime, type RevocationRuntime } from "./revocation/revocation-runtime.js";
import { openDatabase, type Database } from "./storage/database.js";
import { migrate } from "./storage/migrate.js";
import { createPrismaAuditLog } from "./storage/prisma/audit-log.js";
import { createPrismaClientStore } from "./storage/prisma/client-store.js";
import { createPrismaKeyStore } from "./storage/prisma/key-store.js";
import { createRevocationOutbox } from "./storage/prisma/revocation-outbox.js";
import { createPrismaUserStore } from "./storage/prisma/user-store.js";
import { createSessionRepository } from "./storage/sessions/session-repository.js";
import { AdminService } from "./domain/admin-service.js";
import { auditChainOf, type AuditChain } from "./audit/audit-chain.js";
import { createPrismaWebhookStore } from "./storage/prisma/webhook-store.js";
import { WebhookService } from "./webhooks/webhook-service.js";
import { WebhookWorker } from "./webhooks/webhook-worker.js";
import type { AuditLog } from "./domain/ports.js";
import { runCleanup } from "./maintenance/cleanup.js";
import { tapAuditLog, tapSessionStore } from "./observability/event-tap.js";
import { createMetrics, type Metrics } from "./observability/metrics.js";
import type { AttemptLimiter } from "./rate-limit/attempt-limiter.js";
import type { BackoffOverrides } from "./rate-limit/backoff-policy.js";
import { createMemoryAttemptLimiter } from "./rate-limit/memory-attempt-limiter.js";
import { createMemoryRequestCeiling } from "./rate-limit/memory-request-ceiling.js";
import { createRedisAttemptLimiter } from "./rate-limit/redis-attempt-limiter.js";
import { createRedisRequestCeiling } from "./rate-limit/redis-request-ceiling.js";
import { unlimitedCeiling, type RequestCeiling } from "./rate-limit/request-ceiling.js";
import { createPrismaAdminStore } from "./storage/prisma/admin-store.js";
import { createPrismaApplicationReader } from "./storage/prisma/application-store.js";
import { createSessionApplicationReader, type SessionApplicationReader } from "./storage/prisma/session-application.js";
import type { RedisState } from "./storage/redis/redis-state.js";

export interface Readiness {
  ready: boolean;
  postgres: "ok" | "unreachable";
  redis: "ok" | "degraded" | "not_configured";
  /** Which Redis servers are in use and which answer (absent without Redis). */
  redis_topology?: { mode: RedisState["mode"]; masters: RedisState["masters"]; replicas?: number };
  keys: "ok" | "missing";
}

/** Everything the HTTP layer and the CLI use, built once from the config. */
export interface Services {
  config: Config;
  clock: Clock;
  db: Database;
  users: UserStore;
  /** Every application and its resolved policy, in memory (SPEC §10). */
  applications: ApplicationCache;
  /** Applications' lifecycle and policy changes (admin API, CLI). */
  applicationService: ApplicationService;
  /** Which application a refresh token's session belongs to (the Origin check of cookie refreshes, SPEC §13). */
  sessionApplications: SessionApplicationReader;
  userService: UserService;
  sessionStore: SessionStore;
  sessions: SessionService;
  revocations: RevocationService;
  revocationList: RevocationList;
  /** The mirror with its cursor and listeners (GET /revocations/stream). */
  revocationFeed: RevocationFeed;
  /** GET /revocations, read from Postgres. */
  revocationListing: RevocationListing;
  auth: AccessAuthenticator;
  /** Verifies our access tokens (signature and claims only; no revocation). */
  verifier: AccessTokenVerifier;
  keys: KeyManager;
  /** Key compromise: revoke a signing key now (SPEC §14). */
  keyRevocation: KeyRevocation;
  /** Service clients: authentication and lifecycle. */
  clients: ClientService;
  introspection: IntrospectionService;
  /** GET /forward-auth: the same live check as introspection. */
  forwardAuth: ForwardAuth;
  /** RFC 7009 token revocation. */
  tokenRevocation: TokenRevocation;
  /** POST /sessions on behalf of an upstream identity service. */
  delegatedIssuer: DelegatedIssuer;
  /** Operator actions (admin API). */
  admin: AdminService;
  /** Audit events outside a session transaction. */
  auditLog: AuditLog;
  /** The hash chain over every audit event (SPEC §14). */
  auditChain: AuditChain;
  /** Webhook subscriptions (SPEC §14). */
  webhooks: WebhookService;
  /** Sends due webhook deliveries (on a timer when background work runs). */
  webhookWorker: WebhookWorker;
  metrics: Metrics;
  /** Failed-attempt backoff (SPEC §6): shared through Redis when configured. */
  attempts: AttemptLimiter;
  /** Optional per-client request ceiling; unlimited unless CLIENT_REQUEST_CEILING is set. */
  clientCeiling: RequestCeiling;
  readiness(): Promise<Readiness>;
  close(): Promise<void>;
}

export interface ServiceOptions {
  clock?: Clock;
  /** Lighter argon2 settings for tests; production uses the defaults. */
  passwordParams?: Argon2Params;
  log?: { info(msg: string): void; error(obj: unknown, msg: string): void };
  /**
   * Start background work (key rotation, list pruning, the revocation
   * mirror's pub/sub subscription and Postgres poll, the outbox worker).
   * Off for one-shot CLI commands.
   */
  background?: boolean;
  /** Prefix of every Redis key and channel (default `sa:`); tests give each file its own. */
  redisKeyPrefix?: string;
  /** How often each instance polls Postgres for revocations its mirror missed (default 1 s). */
  revocationPollMs?: number;
  /** How often the outbox worker replays undelivered revocations to Redis (default 1 s). */
  outboxIntervalMs?: number;
  /** Mirror lease length (default 2 s): how long a revocation waits at most for an instance that stopped acknowledging. */
  mirrorLeaseMs?: number;
  /** How long a verified client credential is trusted in memory (default 1 s). */
  clientCacheTtlMs?: number;
  /** How often each instance links new audit events into the chain (default 250 ms). */
  auditChainIntervalMs?: number;
  /** How often each instance looks for due webhook deliveries (default 1 s). */
  webhookIntervalMs?: number;
  /** How long a webhook receiver gets to answer (default 10 s, SPEC §14). */
  webhookTimeoutMs?: number;
  /** Sessions per transaction of a policy change (default 5000). */
  policyBatchSize?: number;
  /** How often each instance reloads the applications table (default 2 s). */
  applicationReloadMs?: number;
  /** Called once when a fresh embedded install creates its admin client (server.ts prints it). */
  onAdminBootstrap?: (credentials: { id: string; secret: string; file: string }) => void;
}

const noopLog = { info: () => {}, error: () => {} };

/** The composition root: storage, keys and domain services wired from the config. */
export async function createServices(config: Config, opts: ServiceOptions = {}): Promise<Services> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? noopLog;
  const db = await openDatabase({ url: config.storage.databaseUrl, dataDir: config.storage.dataDir, poolSize: config.storage.poolSize });
  const timers: NodeJS.Timeout[] = [];
  let revocation: RevocationRuntime | undefined;
  try {
    if (config.storage.migrateOnStart) {
      const { applied } = await migrate(db, { log: (m) => log.info(m) });
      if (applied.length > 0) log.info(`applied migrations: ${applied.join(", ")}`);
    }
    const kek = config.tokens.keyEncryptionKey ?? (await embeddedKeyEncryptionKey(config.storage.dataDir));
    const withLock = async <T>(fn: () => Promise<T>): Promise<T> => {
      const r = await db.withAdvisoryLock("signing-keys", fn);
      if (!r.acquired) throw new Error("signing-key lock not acquired");
      return r.value;
    };
    const keys = new KeyManager(
      createPrismaKeyStore(db.prisma, withLock),
      deriveKey(kek, "signing-keys"),
      {
        algorithm: config.tokens.algorithm,
        rotationIntervalMs: config.tokens.keyRotationIntervalMs,
        prepublishMs: config.tokens.keyPrepublishMs,
        accessTokenTtlMs: config.tokens.accessTokenTtlMs,
      },
      clock,
    );
    await keys.ensure();

    const metrics = createMetrics({
      outboxDepth: () => db.prisma.revocation.count({ where: { publishedAt: null } }),
      mirrorSize: () => revocation?.feed.list.size ?? 0,
      mirrorTrusted: () => revocation?.mirrorTrusted() ?? false,
      redisState: () => revocation?.redisState() ?? Promise.resolve(undefined),
    });
    const users = createPrismaUserStore(db.prisma);
    // The service-wide policy (SPEC §9): what every application's unset fields take.
    const defaultPolicy: ApplicationPolicy = {
      ...config.sessions,
      accessTokenTtlMs: config.tokens.accessTokenTtlMs,
      onLimit: "evict_oldest",
    };
    const applicationReader = createPrismaApplicationReader(db.prisma);
    const applications = new ApplicationCache(applicationReader, defaultPolicy, {
      reloadEveryMs: opts.applicationReloadMs ?? 2_000,
    });
    if (opts.background !== false) await applications.start();
    else await applications.reload();
    // Audit events also feed the metrics, once their transaction committed.
    // Introspection's fast path checks a token's sub against its session's
    // owner; sessions issued here are known without a read.
    const owners = new SessionOwners({ findSession: (id) => sessionStore.findSession(id) });
    const tapped = tapSessionStore(createSessionRepository(db.sql), metrics.observe);
    const sessionStore: SessionStore = {
      ...tapped,
      issueSession(subject, clientId, plan) {
        return tapped.issueSession(subject, clientId, (application, user) => {
          const write = plan(application, user);
          owners.learn(write.session.id, write.session.userId);
          return write;
        });
      },
    };
    const audit = tapAuditLog(createPrismaAuditLog(db.prisma), metrics.observe);
    const passwords = await createPasswordHasher(opts.passwordParams);
    const runtime = await createRevocationRuntime({
      redis: config.storage.redis,
      keyPrefix: opts.redisKeyPrefix ?? config.storage.redisKeyPrefix,
      db,
      outbox: createRevocationOutbox(db.prisma),
      clock,
      log,
      pollMs: opts.revocationPollMs ?? 1_000,
      outboxIntervalMs: opts.outboxIntervalMs ?? 1_000,
      ...(opts.mirrorLeaseMs ? { mirrorLeaseMs: opts.mirrorLeaseMs } : {}),
    });
    revocation = runtime; // closed on a failed start
    // A key revoked anywhere stops here as soon as the mirror has its entry; the reload brings in its successor.
    keys.honourRevocations((kid, nowMs) => runtime.feed.list.isKeyRevoked(kid, nowMs));
    runtime.feed.list.onKeyRevoked = () =>
      void keys.reload().catch((err) => log.error({ err }, "key reload after a key revocation failed"));
    const revocationList = runtime.feed.list;
    const publisher = runtime.publisher;
    const tokenSettings = {
      issuer: config.tokens.issuer,
      audience: config.tokens.audience,
      maxLifetimeSec: Math.ceil(config.tokens.accessTokenTtlMs / 1000),
    };
    const signer = createAccessTokenSigner(keys, tokenSettings);
    const verifier = cacheVerifiedClaims(
      createAccessTokenVerifier(keys, tokenSettings, clock, reloadOnUnknownKid(keys, clock)),
      keys,
      clock,
    );
    const sessions = new SessionService({
      users,
      sessions: sessionStore,
      audit,
      publisher,
      passwords,
      signer,
      clock,
      policy: defaultPolicy,
      applications,
      parseUserAgent,
    });
    const revocations = new RevocationService({
      sessions: sessionStore,
      publisher,
      clock,
      accessTokenTtlMs: config.tokens.accessTokenTtlMs,
    });
    const applicationService = new ApplicationService({
      store: createApplicationRepository(db.sql, applicationReader, metrics.observe),
      publisher,
      clock,
      defaults: defaultPolicy,
      serviceAccessTokenTtlMs: config.tokens.accessTokenTtlMs,
      // The bounding lifetimes are on the session rows: other instances' caches may lag by their reload period.
      changed: () => applications.reload().catch((err) => log.error({ err }, "application reload failed")),
      ...(opts.policyBatchSize ? { batchSize: opts.policyBatchSize } : {}),
    });
    const auth = new AccessAuthenticator({ verifier, sessions: sessionStore, users, clock });
    const userService = new UserService({ users, passwords, audit, clock });
    const clients = new ClientService({
      store: createPrismaClientStore(db.prisma),
      secrets: createClientSecretHasher(passwords),
      audit,
      clock,
      cacheTtlMs: opts.clientCacheTtlMs ?? 1_000,
    });
    const introspection = new IntrospectionService({
      verifier,
      owners,
      revocations: runtime.check(storeRevocationCheck({ sessions: sessionStore, users, clock })),
      sessions: sessionStore,
      users,
      clock,
      issuer: config.tokens.issuer,
    });

    if (config.admin.clientId && config.admin.clientSecret) {
      await clients.ensureAdmin(config.admin.clientId, config.admin.clientSecret);
    } else if (db.kind === "embedded" && opts.background !== false) {
      const created = await clients.bootstrapAdmin();
      // Shown once, on the first start of a fresh embedded install, outside the
      // log stream (SPEC §6: no secret in logs); only its hash is kept.
      if (created) {
        const file = await saveAdminCredentials(config.storage.dataDir, created);
        log.info(`created an admin service client on first start: client_id=${created.id} (credentials in ${file}, owner-only)`);
        opts.onAdminBootstrap?.({ id: created.id, secret: created.secret, file });
      }
    }

    const redisPrefix = opts.redisKeyPrefix ?? config.storage.redisKeyPrefix;
    const attempts = createAttemptLimiter(config, runtime.redis, redisPrefix, clock, log);
    const clientCeiling = createCeiling(config, runtime.redis, redisPrefix, clock, log);
    const auditChain = auditChainOf(db);
    const webhookStore = createPrismaWebhookStore(db.prisma);
    const webhookKey = deriveKey(kek, "webhook-secrets");
    const webhooks = new WebhookService({ store: webhookStore, sealKey: webhookKey, audit, clock });
    const webhookWorker = new WebhookWorker({
      store: webhookStore,
      sealKey: webhookKey,
      clock,
      timeoutMs: opts.webhookTimeoutMs ?? 10_000,
      batchSize: 20,
    });
    const admin = new AdminService({
      admin: createPrismaAdminStore(db.prisma),
      users,
      sessions: sessionStore,
      revocations,
      claims: new ClaimsService({ sessions: sessionStore, publisher, clock, accessTokenTtlMs: config.tokens.accessTokenTtlMs }),
      passwords,
      audit,
      clock,
    });

    if (opts.background !== false) {
      timers.push(
        setInterval(
          () =>
            runCleanup(db, clock, config.cleanup).then(
              (r) =>
                r && (r.sessions || r.refreshTokens || r.auditEvents || r.webhookDeliveries) && log.info(`cleanup: ${JSON.stringify(r)}`),
              (err) => log.error({ err }, "cleanup failed"),
            ),
          config.cleanup.intervalMs,
        ),
      );
      // Pick up keys another instance created well within the pre-publication window.
      const keyTick = Math.max(1000, Math.min(60_000, Math.floor(config.tokens.keyPrepublishMs / 4)));
      timers.push(setInterval(() => keys.ensure().catch((err) => log.error({ err }, "key rotation check failed")), keyTick));
      timers.push(setInterval(() => runtime.feed.prune(clock.now().getTime()), 30_000));
      // Whichever instance gets the lock links everyone's events; the others skip the tick.
      timers.push(
        setInterval(
          () => auditChain.catchUp({ wait: false }).catch((err) => log.error({ err }, "audit chain linking failed")),
          opts.auditChainIntervalMs ?? 250,
        ),
      );
      timers.push(
        setInterval(
          () => webhookWorker.tick().catch((err) => log.error({ err }, "webhook delivery failed")),
          opts.webhookIntervalMs ?? 1_000,
        ),
      );
      for (const t of timers) t.unref();
      runtime.start();
    }

    return {
      config,
      clock,
      db,
      users,
      applications,
      applicationService,
      sessionApplications: createSessionApplicationReader(db.prisma),
      userService,
      sessionStore,
      sessions,
      revocations,
      revocationList,
      revocationFeed: runtime.feed,
      revocationListing: runtime.listing,
      auth,
      verifier,
      keys,
      clients,
      introspection,
      forwardAuth: new ForwardAuth(introspection),
      keyRevocation: new KeyRevocation({ keys, revocations, clock, accessTokenTtlMs: config.tokens.accessTokenTtlMs }),
      tokenRevocation: new TokenRevocation({ verifier, sessions: sessionStore, revocations }),
      delegatedIssuer: new DelegatedIssuer({ sessions, clock }),
      admin,
      auditLog: audit,
      auditChain,
      webhooks,
      webhookWorker,
      metrics,
      attempts,
      clientCeiling,
      async readiness() {
        // Bounded: on a silent network the ping would otherwise wait for the query timeout.
        const postgres = await withDeadline(db.ping(), 1_500).then(
          () => "ok" as const,
          () => "unreachable" as const,
        );
        let keysState: Readiness["keys"] = "ok";
        try {
          keys.signingKey();
        } catch {
          keysState = "missing";
        }
        // Redis is a cache and a bus: without it the service still answers (SPEC §1), degraded.
        const redis = await runtime.redisState();
        return {
          ready: postgres === "ok" && keysState === "ok",
          postgres,
          redis: redis === undefined ? "not_configured" : redis.ok ? "ok" : "degraded",
          ...(redis
            ? {
                redis_topology: {
                  mode: redis.mode,
                  masters: redis.masters,
                  ...(redis.replicas !== undefined ? { replicas: redis.replicas } : {}),
                },
              }
            : {}),
          keys: keysState,
        };
      },
      async close() {
        for (const t of timers) clearInterval(t);
        applications.close();
        await webhookWorker.idle();
        await runtime.close();
        await db.close();
      },
    };
  } catch (err) {
    for (const t of timers) clearInterval(t);
    await revocation?.close().catch(() => {});
    await db.close().catch(() => {});
    throw err;
  }
}

function backoffOverrides(config: Config): BackoffOverrides {
  const { loginPerUser, loginPerIp, refreshPerIp, clientAuth, windowMs, maxBlockMs } = config.rateLimit;
  const p = (freeFailures: number) => ({ freeFailures, windowMs, maxBlockMs });
  return {
    "login:user": p(loginPerUser),
    "login:user-ip": p(loginPerUser),
    "login:ip": p(loginPerIp),
    "refresh:ip": p(refreshPerIp),
    client: p(clientAuth),
    "client-ip": p(Math.max(clientAuth, loginPerIp)),
  };
}

/** Shared through Redis across instances; in-process in embedded mode or as the fallback while Redis is away. */
function createAttemptLimiter(
  config: Config,
  redis: RevocationRuntime["redis"],
  prefix: string,
  clock: Clock,
  log: NonNullable<ServiceOptions["log"]>,
): AttemptLimiter {
  const policies = backoffOverrides(config);
  const local = createMemoryAttemptLimiter({ clock, policies });
  if (!redis) return local;
  return createRedisAttemptLimiter({
    redis,
    clock,
    policies,
    keyPrefix: `${prefix}attempts:`,
    fallback: local,
    onError: (err, op) => log.error({ err }, `rate limiter: redis unavailable during ${op}; using the in-process limiter`),
  });
}

function createCeiling(
  config: Config,
  redis: RevocationRuntime["redis"],
  prefix: string,
  clock: Clock,
  log: NonNullable<ServiceOptions["log"]>,
): RequestCeiling {
  const perSecond = config.rateLimit.clientRequestsPerSecond;
  if (perSecond === undefined) return unlimitedCeiling;
  const policy = { perSecond, burst: perSecond };
  if (!redis) return createMemoryRequestCeiling({ clock, policy });
  return createRedisRequestCeiling({
    redis,
    clock,
    policy,
    keyPrefix: `${prefix}ceiling:`,
    onError: (err) => log.error({ err }, "request ceiling: redis unavailable; not limiting"),
  });
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/** An unknown kid may be a key another instance just created: reload, at most once a second. */
function reloadOnUnknownKid(keys: KeyManager, clock: Clock): () => Promise<void> {
  let last = Number.NEGATIVE_INFINITY;
  return async () => {
    const now = clock.now().getTime();
    if (now - last < 1000) return;
    last = now;
    await keys.reload();
  };
}
