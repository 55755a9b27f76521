// The domain core is plain TypeScript (docs/style.md): no file of src/domain
// reaches, directly or through anything it imports, a framework or storage
// package (Fastify, Prisma, pg, PGlite, ioredis, pino), nor src/storage or
// src/http. It is tested without HTTP or a database.
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { walkImports } from "../fixtures/import-graph.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));
const DOMAIN = join(SRC, "domain");
/** Plain libraries the domain may reach through src/crypto and src/lib. */
const ALLOWED_PACKAGES = new Set(["ua-parser-js", "canonicalize"]);
const FORBIDDEN_DIRS = ["storage", "http", "generated", "revocation", "observability"].map((d) => join(SRC, d));

t.test("src/domain imports no framework or storage package, and nothing of storage or http", async (t) => {
  const read = (p: string) => readFileSync(p, "utf8");
  const violations: string[] = [];
  let walked = 0;
  for (const file of readdirSync(DOMAIN).filter((f) => f.endsWith(".ts"))) {
    const graph = walkImports(join(DOMAIN, file), SRC, ALLOWED_PACKAGES, read);
    walked += graph.files.length;
    violations.push(...graph.violations.map((v) => `${file}: ${v}`));
    for (const f of graph.files) {
      if (FORBIDDEN_DIRS.some((d) => f.startsWith(d))) violations.push(`${file} reaches ${relative(SRC, f)}`);
    }
  }
  t.same([...new Set(violations)], [], "the domain's import graph is plain");
  t.ok(walked > 30, `walked ${walked} files`);
});

t.test("the check sees a storage package reached through a helper", async (t) => {
  const root = join(SRC, "__fake__");
  const files: Record<string, string> = {
    [join(root, "domain", "a.ts")]: `import { x } from "../lib/helper.js";`,
    [join(root, "lib", "helper.ts")]: `import type { PrismaClient } from "@prisma/client";\nimport pino from "pino";`,
  };
  const graph = walkImports(join(root, "domain", "a.ts"), root, ALLOWED_PACKAGES, (p) => files[p] ?? "");
  t.same(graph.violations.sort(), ["lib/helper.ts imports @prisma/client", "lib/helper.ts imports pino"]);
});
