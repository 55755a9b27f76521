// The domain core is covered by its tests: after a full run, every file of
// src/domain was loaded by some test and their lines together are covered
// at least DOMAIN_MIN percent (tap writes the summary; .taprc asks for it).
import { readFileSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";

const DOMAIN_MIN = 90;
/** A declaration that leaves code after type erasure. */
const RUNTIME = /^\s*(export\s+)?(default\s+)?(async\s+)?(function|class|const|let|var|enum)\b/m;
const root = resolve(import.meta.dirname, "..");
const domain = join(root, "src", "domain");
const summary = JSON.parse(readFileSync(join(root, ".tap", "report", "coverage-summary.json"), "utf8"));

const missing = [];
let total = 0;
let covered = 0;
for (const file of readdirSync(domain).filter((f) => f.endsWith(".ts"))) {
  const entry = summary[join(domain, file)];
  if (!entry) {
    // Interfaces and types only (ports): nothing runs, so nothing can be covered.
    if (!RUNTIME.test(readFileSync(join(domain, file), "utf8"))) continue;
    missing.push(file);
    continue;
  }
  total += entry.lines.total;
  covered += entry.lines.covered;
}
const pct = total === 0 ? 0 : (100 * covered) / total;
console.log(`coverage: src/domain lines ${pct.toFixed(1)}% (${covered}/${total}), minimum ${DOMAIN_MIN}%`);
if (missing.length > 0) console.log(`coverage: never loaded by a test: ${missing.join(", ")}`);
process.exit(missing.length === 0 && pct >= DOMAIN_MIN ? 0 : 1);
