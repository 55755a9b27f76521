#!/usr/bin/env node
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config.js";
import { systemClock } from "../domain/clock.js";
import { AppError } from "../domain/errors.js";
import { runCleanup } from "../maintenance/cleanup.js";
import { createServices } from "../services.js";
import { openDatabase } from "../storage/database.js";
import { migrate } from "../storage/migrate.js";

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
  "users:create": {
    summary: "create a built-in user; the password is read from standard input",
    usage: "echo -n 'password' | session-authority users:create <username>",
    async run(args, config, io) {
      const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
      const username = positionals[0];
      if (!username || positionals.length > 1) {
        io.err("usage: " + COMMANDS["users:create"]!.usage);
        return 2;
      }
      const password = (await io.stdin()).replace(/\r?\n$/, "");
      const services = await createServices(config, { background: false });
      try {
        const user = await services.userService.create(username, password, "cli");
        io.out(JSON.stringify({ id: user.id, username: user.username }));
        return 0;
      } finally {
        await services.close();
      }
    },
  },
};

function help(io: Io): void {
  io.out("usage: session-authority <command> [options]\n\ncommands:");
  for (const [name, c] of Object.entries(COMMANDS)) io.out(`  ${name.padEnd(16)} ${c.summary}`);
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
