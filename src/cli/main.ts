#!/usr/bin/env node
import { join } from "node:path";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config.js";
import { systemClock } from "../domain/clock.js";
import { AppError } from "../domain/errors.js";
import { ADMIN_CREDENTIALS_FILE } from "../embedded-secrets.js";
import { runCleanup } from "../maintenance/cleanup.js";
import { CLIENT_SCOPES, isClientScope, type ClientScope } from "../domain/client-ports.js";
import { createServices, type Services } from "../services.js";
import { chainReportView } from "../audit/chain-report.js";
import { openDatabase } from "../storage/database.js";
import { migrate } from "../storage/migrate.js";
import { type ApplicationFields, reportView } from "../domain/application-service.js";
import { applicationView, userView } from "../http/routes/admin-views.js";

/** Operator commands (SPEC §5, §9): `session-authority <command> [options]`. */

interface Command {
  summary: string;
  usage: string;
  run(args: string[], config: Config, io: Io): Promise<number>;
}

export interface Io {
  out(line: string): void;
  err(line: string): void;
  /** Reads all of standard input (for passwords, so they stay out of argv and shell history). */
  stdin(): Promise<string>;
}

const COMMANDS: Record<string, Command> = {
  migrate: {
    summary: "apply pending database migrations and exit",
    usage: "session-authority migrate",
    async run(_args, config, io) {
      const db = await openDatabase({ url: config.storage.databaseUrl, dataDir: config.storage.dataDir, poolSize: 2 });
      try {
        const { applied } = await migrate(db, { log: (m) => io.out(m) });
        io.out(applied.length ? `applied ${applied.length} migration(s): ${applied.join(", ")}` : "database is up to date");
        return 0;
      } finally {
        await db.close();
      }
    },
  },
  cleanup: {
    summary: "delete expired sessions, spent refresh tokens, stale revocations and old audit events once",
    usage: "session-authority cleanup",
    async run(_args, config, io) {
      const db = await openDatabase({ url: config.storage.databaseUrl, dataDir: config.storage.dataDir, poolSize: 2 });
      try {
        const report = await runCleanup(db, systemClock, config.cleanup);
        io.out(report ? JSON.stringify(report) : "another instance is cleaning up; nothing done");
        return 0;
      } finally {
        await db.close();
      }
    },
  },
  "audit:verify": {
    summary: "recompute the audit hash chain; names the first event that does not match (exit 1)",
    usage: "session-authority audit:verify",
    async run(_args, config, io) {
      return withServices(config, async (s) => {
        const report = chainReportView(await s.auditChain.verify());
        io.out(JSON.stringify(report));
        if (!report.valid)
          io.err(
            `audit chain broken at event ${report.first_invalid!.id} (seq ${report.first_invalid!.seq}): ${report.first_invalid!.reason}`,
          );
        return report.valid ? 0 : 1;
      });
    },
  },
  "clients:create": {
    summary: "create a service client; prints its id and secret (shown once)",
    usage: "session-authority clients:create <name> --scopes introspect,revoke,revocations:read,sessions:issue,admin",
    async run(args, config, io) {
      const { positionals, values } = parseArgs({ args, allowPositionals: true, options: { scopes: { type: "string" } } });
      const scopes = (values.scopes ?? "")
        .split(",")
        .map((x) => x.trim())
        .filter(Boolean);
      const bad = scopes.filter((x) => !isClientScope(x));
      if (positionals.length !== 1 || scopes.length === 0 || bad.length > 0) {
        if (bad.length) io.err(`unknown scope(s): ${bad.join(", ")}; known: ${CLIENT_SCOPES.join(", ")}`);
        io.err("usage: " + COMMANDS["clients:create"]!.usage);
        return 2;
      }
      return withServices(config, async (s) => {
        const { client, secret } = await s.clients.create(positionals[0]!, scopes as ClientScope[], "cli");
        io.out(JSON.stringify({ client_id: client.id, client_secret: secret, scopes: client.scopes }));
        return 0;
      });
    },
  },
  "clients:rotate-secret": {
    summary: "give a service client a new secret (the old one stops working); prints it once",
    usage: "session-authority clients:rotate-secret <client_id>",
    async run(args, config, io) {
      const id = singleArgument(args, "clients:rotate-secret", io);
      if (id === null) return 2;
      return withServices(config, async (s) => {
        const { secret } = await s.clients.rotateSecret(id, "cli");
        io.out(JSON.stringify({ client_id: id, client_secret: secret }));
        return 0;
      });
    },
  },
  "clients:delete": {
    summary: "delete a service client",
    usage: "session-authority clients:delete <client_id>",
    async run(args, config, io) {
      const id = singleArgument(args, "clients:delete", io);
      if (id === null) return 2;
      return withServices(config, async (s) => {
        await s.clients.remove(id, "cli");
        io.out(`deleted ${id}`);
        return 0;
      });
    },
  },
  "keys:list": {
    summary: "list signing keys with their state (next, active, retired)",
    usage: "session-authority keys:list",
    async run(_args, config, io) {
      return withServices(config, async (s) => {
        for (const k of s.keys.list()) {
          io.out(
            JSON.stringify({
              kid: k.kid,
              alg: k.alg,
              state: k.state,
              activates_at: k.activatesAt,
              retired_at: k.retiredAt,
              expires_at: k.expiresAt,
            }),
          );
        }
        return 0;
      });
    },
  },
  "keys:rotate": {
    summary: "publish a new signing key now; it signs after KEY_PREPUBLISH (idempotent while one is pending)",
    usage: "session-authority keys:rotate",
    async run(_args, config, io) {
      return withServices(config, async (s) => {
        const key = await s.keys.rotate();
        await s.auditLog.record({ type: "key_rotated", actor: "cli", detail: { kid: key.kid } }, s.clock.now());
        io.out(JSON.stringify({ kid: key.kid, alg: key.alg, activates_at: key.activatesAt }));
        return 0;
      });
    },
  },
  "keys:revoke": {
    summary: "key compromise: unpublish a signing key, make its tokens inactive everywhere, sign with a new key now",
    usage: "session-authority keys:revoke <kid>",
    async run(args, config, io) {
      const kid = singleArgument(args, "keys:revoke", io);
      if (kid === null) return 2;
      return withServices(config, async (s) => {
        const r = await s.keyRevocation.revoke(kid, "cli");
        io.out(JSON.stringify({ kid: r.kid, revoked: true, replacement_kid: r.replacementKid }));
        return 0;
      });
    },
  },
  "users:create": {
    summary: "create a built-in user; the password is read from standard input",
    usage: "echo -n 'password' | session-authority users:create <username>",
    async run(args, config, io) {
      const username = singleArgument(args, "users:create", io);
      if (username === null) return 2;
      const password = (await io.stdin()).replace(/\r?\n$/, "");
      return withServices(config, async (s) => {
        const user = await s.userService.create(username, password, "cli");
        io.out(JSON.stringify({ id: user.id, username: user.username }));
        return 0;
      });
    },
  },
  "users:claims": {
    summary: "replace a user's claims with the JSON object read from standard input ({} clears them)",
    usage: `echo '{"role":"editor"}' | session-authority users:claims <user-id>`,
    async run(args, config, io) {
      const id = singleArgument(args, "users:claims", io);
      if (id === null) return 2;
      if (!UUID.test(id)) {
        io.err("error: <user-id> must be a user's id (a UUID)");
        return 2;
      }
      const claims = jsonObject(await io.stdin());
      if (!claims) {
        io.err("error: standard input must be a JSON object");
        io.err("usage: " + COMMANDS["users:claims"]!.usage);
        return 2;
      }
      return withServices(config, async (s) => {
        // The same domain call as PATCH /admin/users/:id: validated, audited, earlier access tokens made inactive.
        await s.admin.patchUser(id, { claims }, "cli");
        io.out(JSON.stringify(userView(await s.admin.user(id))));
        return 0;
      });
    },
  },
  "applications:create": {
    summary: "create an application (SPEC §10); prints it",
    usage: applicationUsage("applications:create <id> --name NAME"),
    async run(args, config, io) {
      const parsed = applicationArgs(args, "applications:create", io);
      if (!parsed) return 2;
      return withServices(config, async (s) => {
        const app = await s.applicationService.create({ id: parsed.id, ...parsed.fields }, "cli");
        io.out(JSON.stringify(applicationView(app, s.applicationService.resolved(app))));
        return 0;
      });
    },
  },
  "applications:list": {
    summary: "list applications, one JSON line each",
    usage: "session-authority applications:list",
    async run(_args, config, io) {
      return withServices(config, async (s) => {
        for (const app of await s.applicationService.list())
          io.out(JSON.stringify(applicationView(app, s.applicationService.resolved(app))));
        return 0;
      });
    },
  },
  "applications:update": {
    summary: "change an application; a policy change applies at once to its live sessions (prints what it did)",
    usage: applicationUsage("applications:update <id>"),
    async run(args, config, io) {
      const parsed = applicationArgs(args, "applications:update", io);
      if (!parsed) return 2;
      return withServices(config, async (s) => {
        const { application, effect } = await s.applicationService.update(parsed.id, parsed.fields, "cli");
        const view = applicationView(application, s.applicationService.resolved(application));
        io.out(JSON.stringify({ ...view, ...(effect ? { policy_effect: reportView(effect) } : {}) }));
        return 0;
      });
    },
  },
  "applications:dry-run": {
    summary: "what a policy change would do to an application's live sessions now, changing nothing",
    usage: "session-authority applications:dry-run <id> [--policy JSON] [--set field=value ...]",
    async run(args, config, io) {
      const parsed = applicationArgs(args, "applications:dry-run", io);
      if (!parsed) return 2;
      if (!parsed.fields.policy) {
        io.err("usage: " + COMMANDS["applications:dry-run"]!.usage);
        return 2;
      }
      return withServices(config, async (s) => {
        io.out(JSON.stringify(reportView(await s.applicationService.dryRun(parsed.id, parsed.fields.policy))));
        return 0;
      });
    },
  },
  "applications:delete": {
    summary: "delete an application and revoke its sessions",
    usage: "session-authority applications:delete <id>",
    async run(args, config, io) {
      const id = singleArgument(args, "applications:delete", io);
      if (id === null) return 2;
      return withServices(config, async (s) => {
        const revoked = await s.applicationService.remove(id, "cli");
        io.out(JSON.stringify({ deleted: id, sessions_revoked: revoked }));
        return 0;
      });
    },
  },
};

/** The one positional argument a command takes, or null after printing its usage. */
function singleArgument(args: string[], command: string, io: Io): string | null {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length === 1 && positionals[0]) return positionals[0];
  io.err("usage: " + COMMANDS[command]!.usage);
  return null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The JSON object the text holds, or null when it is not JSON or not an object. */
function jsonObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

function applicationUsage(head: string): string {
  return `session-authority ${head} [--transports cookie,bearer] [--origins https://a.example,…] [--policy JSON] [--set field=value ...]`;
}

/**
 * An application command's id and fields. Policy fields come as one JSON
 * object (`--policy '{"access_token_ttl":"5m"}'`) and/or one by one
 * (`--set max_sessions_per_user=3`, `--set refresh_token_ttl=null`); the
 * service validates them as the admin API does.
 */
function applicationArgs(args: string[], command: string, io: Io): { id: string; fields: ApplicationFields } | null {
  const usage = () => {
    io.err("usage: " + COMMANDS[command]!.usage);
    return null;
  };
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      options: {
        name: { type: "string" },
        transports: { type: "string" },
        origins: { type: "string" },
        policy: { type: "string" },
        set: { type: "string", multiple: true },
      },
    });
  } catch (err) {
    io.err(`error: ${(err as Error).message}`);
    return usage();
  }
  const { positionals, values } = parsed;
  if (positionals.length !== 1 || !positionals[0]) return usage();
  const list = (v: string) =>
    v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  const fields: ApplicationFields = {};
  if (values.name !== undefined) fields.name = values.name;
  if (values.transports !== undefined) fields.transports = list(values.transports);
  if (values.origins !== undefined) fields.origins = list(values.origins);
  let policy: Record<string, unknown> | undefined;
  if (values.policy !== undefined) {
    try {
      policy = JSON.parse(values.policy) as Record<string, unknown>;
    } catch {
      io.err("error: --policy must be a JSON object");
      return usage();
    }
  }
  for (const pair of values.set ?? []) {
    const eq = pair.indexOf("=");
    if (eq < 1) return usage();
    const raw = pair.slice(eq + 1);
    policy = { ...policy, [pair.slice(0, eq)]: raw === "null" ? null : /^\d+$/.test(raw) ? Number(raw) : raw };
  }
  if (policy !== undefined) fields.policy = policy;
  return { id: positionals[0], fields };
}

/** Runs a command on the full service graph, without background work, and closes it. */
async function withServices(config: Config, fn: (s: Services) => Promise<number>): Promise<number> {
  const services = await createServices(config, { background: false });
  try {
    return await fn(services);
  } finally {
    await services.close();
  }
}

function help(io: Io): void {
  io.out("usage: session-authority <command> [options]\n\ncommands:");
  for (const [name, c] of Object.entries(COMMANDS)) io.out(`  ${name.padEnd(22)} ${c.summary}`);
  io.out("\nRun `session-authority <command> --help` for a command's usage. Configuration comes from the environment (see README).");
}

/** Runs one command; returns the exit code. Exported for tests. */
export async function runCli(argv: string[], env: Record<string, string | undefined>, io: Io): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    help(io);
    return name ? 0 : 2;
  }
  const command = COMMANDS[name];
  if (!command) {
    io.err(`unknown command: ${name}`);
    help(io);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(`${command.summary}\nusage: ${command.usage}`);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) io.err(`config error: ${p}`);
      return 2;
    }
    throw err;
  }
  try {
    return await command.run(rest, config, io);
  } catch (err) {
    if (err instanceof AppError && err.status < 500) {
      io.err(`error: ${err.description}`);
      return 1;
    }
    // The embedded database admits one process: while the service runs, it owns it.
    if (err instanceof Error && /data folder .* in use/.test(err.message) && config.storage.databaseUrl === undefined) {
      io.err(`error: ${err.message}`);
      io.err(
        `the service is running on DATA_DIR=${config.storage.dataDir}: use its admin API with the credentials in ${join(config.storage.dataDir, ADMIN_CREDENTIALS_FILE)} (README, Walk-through), or stop it first`,
      );
      return 1;
    }
    throw err;
  }
}

const processIo: Io = {
  out: (l) => process.stdout.write(l + "\n"),
  err: (l) => process.stderr.write(l + "\n"),
  stdin: async () => {
    if (process.stdin.isTTY) return "";
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString("utf8");
  },
};

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly || process.argv[1]?.endsWith("/session-authority")) {
  runCli(process.argv.slice(2), process.env, processIo).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`fatal: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
