// SPEC §7: `session-authority/verifier` is imported by sibling services, so
// its import graph holds jose and Node built-ins only: no Fastify, Prisma,
// ioredis or pino, and nothing from the service's own src/ outside
// src/verifier (a type import would still drag those files into the
// published declarations).
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import { walkImports } from "../fixtures/import-graph.js";

const VERIFIER_DIR = fileURLToPath(new URL("../../src/verifier/", import.meta.url));
const ENTRY = join(VERIFIER_DIR, "index.ts");
const ALLOWED_PACKAGES = new Set(["jose"]);

t.test("the verifier's import graph holds only jose and node: built-ins", async (t) => {
  const graph = walkImports(ENTRY, VERIFIER_DIR, ALLOWED_PACKAGES, (p) => readFileSync(p, "utf8"));
  t.same(graph.violations, [], "no import reaches beyond jose, node: and src/verifier");
  t.ok(graph.externals.has("jose"), "jose is reached (the walker follows the graph)");
  t.ok(graph.files.length >= 5, `walked ${graph.files.length} files: ${graph.files.map((f) => relative(VERIFIER_DIR, f)).join(", ")}`);
});

t.test("the walker catches type imports, re-exports and dynamic imports of forbidden modules", async (t) => {
  const root = join(VERIFIER_DIR, "__fake__");
  const files: Record<string, string> = {
    [join(root, "index.ts")]: [
      `import { a } from "./a.js";`,
      `// import x from "fastify"; (a comment: ignored)`,
      `const s = 'import y from "pino"'; // a string: ignored`,
      `export * from "./b.js";`,
    ].join("\n"),
    [join(root, "a.ts")]: `import type { Clock } from "../../domain/clock.js";\nexport const a = 1;`,
    [join(root, "b.ts")]: `export { x } from "fastify";\nconst p = await import("@prisma/client");\nimport "crypto";`,
  };
  const graph = walkImports(join(root, "index.ts"), root, ALLOWED_PACKAGES, (p) => files[p] ?? "");
  t.same(graph.violations.sort(), [
    "a.ts imports ../../domain/clock.js, outside __fake__",
    "b.ts imports @prisma/client",
    "b.ts imports crypto",
    "b.ts imports fastify",
  ]);
});
