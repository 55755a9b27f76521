import type { Config } from "./config.js";
import { deriveKey } from "./crypto/seal.js";
import { createPasswordHasher, type Argon2Params } from "./crypto/password.js";
import { AccessAuthenticator } from "./domain/access-auth.js";
import { systemClock, type Clock } from "./domain/clock.js";
import type { SessionStore, UserStore } from "./domain/ports.js";
import { RevocationService } from "./domain/revocation-service.js";
import { SessionService } from "./domain/session-service.js";
import { UserService } from "./domain/user-service.js";
import { embeddedKeyEncryptionKey } from "./embedded-secrets.js";
import { createAccessTokenSigner, createAccessTokenVerifier } from "./keys/access-tokens.js";
import { KeyManager } from "./keys/key-manager.js";
import { parseUserAgent } from "./lib/user-agent.js";
import { createLocalPublisher } from "./revocation/local-publisher.js";
import { RevocationList } from "./revocation/revocation-list.js";
import { openDatabase, type Database } from "./storage/database.js";
import { migrate } from "./storage/migrate.js";
import { createPrismaAuditLog } from "./storage/prisma/audit-log.js";
import { createPrismaKeyStore } from "./storage/prisma/key-store.js";
import { createRevocationOutbox } from "./storage/prisma/revocation-outbox.js";
import { createPrismaSessionStore } from "./storage/prisma/session-store.js";
import { createPrismaUserStore } from "./storage/prisma/user-store.js";

export interface Readiness {
  ready: boolean;
  postgres: "ok" | "unreachable";
  redis: "ok" | "degraded" | "not_configured";
  keys: "ok" | "missing";
}

/** Everything the HTTP layer and the CLI use, built once from the config. */
export interface Services {
  config: Config;
  clock: Clock;
  db: Database;
  users: UserStore;
  userService: UserService;
  sessionStore: SessionStore;
  sessions: SessionService;
  revocations: RevocationService;
  revocationList: RevocationList;
  auth: AccessAuthenticator;
  keys: KeyManager;
  readiness(): Promise<Readiness>;
  close(): Promise<void>;
}

export interface ServiceOptions {
  clock?: Clock;
  /** Lighter argon2 settings for tests; production uses the defaults. */
  passwordParams?: Argon2Params;
  log?: { info(msg: string): void; error(obj: unknown, msg: string): void };
  /** Start background timers (key rotation, list pruning). Off for one-shot CLI commands. */
  background?: boolean;
}

const noopLog = { info: () => {}, error: () => {} };

/** The composition root: storage, keys and domain services wired from the config. */
export async function createServices(config: Config, opts: ServiceOptions = {}): Promise<Services> {
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? noopLog;
  const db = await openDatabase({ url: config.storage.databaseUrl, dataDir: config.storage.dataDir, poolSize: config.storage.poolSize });
  const timers: NodeJS.Timeout[] = [];
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

    const users = createPrismaUserStore(db.prisma);
    const sessionStore = createPrismaSessionStore(db.prisma);
    const audit = createPrismaAuditLog(db.prisma);
    const passwords = await createPasswordHasher(opts.passwordParams);
    const revocationList = new RevocationList();
    const outbox = createRevocationOutbox(db.prisma);
    const publisher = createLocalPublisher(revocationList, outbox, clock, (err) => log.error({ err }, "revocation publish failed"));
    const tokenSettings = { issuer: config.tokens.issuer, audience: config.tokens.audience };
    const signer = createAccessTokenSigner(keys, tokenSettings);
    const verifier = createAccessTokenVerifier(keys, tokenSettings, clock, reloadOnUnknownKid(keys));
    const sessions = new SessionService({
      users,
      sessions: sessionStore,
      audit,
      publisher,
      passwords,
      signer,
      clock,
      policy: { ...config.sessions, accessTokenTtlMs: config.tokens.accessTokenTtlMs },
      parseUserAgent,
    });
    const revocations = new RevocationService({ sessions: sessionStore, publisher, clock, accessTokenTtlMs: config.tokens.accessTokenTtlMs });
    const auth = new AccessAuthenticator({ verifier, sessions: sessionStore, users, clock });
    const userService = new UserService({ users, passwords, audit, clock });

    if (opts.background !== false) {
      // Pick up keys another instance created well within the pre-publication window.
      const keyTick = Math.max(1000, Math.min(60_000, Math.floor(config.tokens.keyPrepublishMs / 4)));
      timers.push(setInterval(() => keys.ensure().catch((err) => log.error({ err }, "key rotation check failed")), keyTick));
      timers.push(setInterval(() => revocationList.prune(clock.now().getTime()), 30_000));
      for (const t of timers) t.unref();
    }

    return {
      config,
      clock,
      db,
      users,
      userService,
      sessionStore,
      sessions,
      revocations,
      revocationList,
      auth,
      keys,
      async readiness() {
        const postgres = await db.ping().then(
          () => "ok" as const,
          () => "unreachable" as const,
        );
        let keysState: Readiness["keys"] = "ok";
        try {
          keys.signingKey();
        } catch {
          keysState = "missing";
        }
        return { ready: postgres === "ok" && keysState === "ok", postgres, redis: "not_configured", keys: keysState };
      },
      async close() {
        for (const t of timers) clearInterval(t);
        await db.close();
      },
    };
  } catch (err) {
    for (const t of timers) clearInterval(t);
    await db.close().catch(() => {});
    throw err;
  }
}

/** An unknown kid may be a key another instance just created: reload, at most once a second. */
function reloadOnUnknownKid(keys: KeyManager): () => Promise<void> {
  let last = 0;
  return async () => {
    const now = Date.now();
    if (now - last < 1000) return;
    last = now;
    await keys.reload();
  };
}
