// `npm start`'s build step: generates the Prisma client and compiles, but
// only when an input changed since the last build, so that a restart with
// nothing changed starts in seconds. The inputs are hashed (content, not
// mtimes: a fresh checkout or a copy keeps its stamp valid only if nothing
// differs); `--force` rebuilds anyway (`npm run build`).
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const STAMP = join(root, "dist", ".build-stamp");
const INPUTS = [
  "package.json",
  "package-lock.json",
  "tsconfig.json",
  "tsconfig.build.json",
  "prisma/schema.prisma",
  "scripts/generate.mjs",
  "scripts/build.mjs",
  "src",
];
// Outputs of the build itself, never inputs.
const SKIP = new Set([join(root, "src", "generated")]);

function files(path) {
  if (SKIP.has(path) || !existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .sort()
    .flatMap((name) => files(join(path, name)));
}

/** One hash of every input's path and content. */
export function inputsHash() {
  const hash = createHash("sha256");
  for (const file of INPUTS.flatMap((p) => files(join(root, p)))) {
    hash
      .update(`${relative(root, file)}\0`)
      .update(readFileSync(file))
      .update("\0");
  }
  return hash.digest("hex");
}

function run(command, args) {
  const r = spawnSync(command, args, { cwd: root, stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

const force = process.argv.includes("--force");
const hash = inputsHash();
const built =
  existsSync(STAMP) &&
  readFileSync(STAMP, "utf8").trim() === hash &&
  existsSync(join(root, "dist", "server.js")) &&
  existsSync(join(root, "src", "generated"));
if (built && !force) {
  console.log("build: up to date (nothing changed since the last build)");
} else {
  run(process.execPath, [join(root, "scripts", "generate.mjs")]);
  run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"]);
  writeFileSync(STAMP, hash + "\n");
}
