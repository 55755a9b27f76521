import pino from "pino";
import { buildApp } from "./app.js";
import { ConfigError, loadConfig } from "./config.js";
import { loggerOptions } from "./logger.js";
import { createServices } from "./services.js";
import { listenFailure, startupFailure, whereOf, type StartupFailure } from "./startup-errors.js";

/** One line naming the variable or the service, then exit: no stack for what an operator must fix. */
function fail(failure: StartupFailure): never {
  process.stderr.write(`${failure.exitCode === 2 ? "config error" : "start-up error"}: ${failure.line}\n`);
  process.exit(failure.exitCode);
}

/** The only place that reads process.env, listens, and exits. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) process.stderr.write(`config error: ${p}\n`);
      process.exit(2);
    }
    throw err;
  }
  const logger = pino(loggerOptions(config.log.level));
  const services = await createServices(config, {
    log: { info: (m) => logger.info(m), error: (obj, m) => logger.error(obj, m) },
    // Printed once, to the operator's terminal, never into the log stream.
    onAdminBootstrap: ({ id, secret, file }) =>
      process.stderr.write(
        `\nAn admin service client was created for this fresh install (also kept, owner-only, in ${file}; load it with \`. ${file}\`):\n  client_id=${id}\n  client_secret=${secret}\n\n`,
      ),
  }).catch((err: unknown) => {
    const failure = startupFailure(err, config);
    if (failure) fail(failure);
    throw err;
  });
  const app = await buildApp(services, { logger });
  logger.info(
    {
      mode: { database: services.db.kind, revocations: config.storage.redis ? `redis ${config.storage.redis.kind}` : "in-process" },
      issuer: config.tokens.issuer,
    },
    "session authority starting",
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    const force = setTimeout(() => {
      logger.error("shutdown took too long; exiting");
      process.exit(1);
    }, 15_000);
    force.unref();
    try {
      await app.close(); // stops accepting, waits for in-flight requests
      await services.close();
      process.exit(0);
    } catch (err) {
      logger.error({ err }, "shutdown failed");
      process.exit(1);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));

  await app.listen({ host: config.server.host, port: config.server.port }).catch(async (err: unknown) => {
    const failure = listenFailure(err, config);
    if (!failure) throw err;
    await services.close().catch(() => {});
    fail(failure);
  });
  const redis = config.storage.redis;
  if (redis && (await services.readiness()).redis !== "ok") {
    // Redis is a cache and a bus: the service runs without it (SPEC §1), and says so.
    const where =
      redis.kind === "standalone"
        ? `Redis at ${whereOf(redis.url, 6379)} (REDIS_URL)`
        : redis.kind === "sentinel"
          ? `the Redis master "${redis.masterName}" through REDIS_SENTINELS`
          : "every Redis Cluster master (REDIS_CLUSTER_NODES)";
    logger.warn(`cannot reach ${where}: running degraded on Postgres until it answers`);
  }
}

main().catch((err) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
