// package.json's `engines` is a promise to whoever installs the service: no
// package the service loads at run time may need a newer Node than it says
// (cookie@2 wants Node >= 22 while we say >= 20). Walks the installed tree
// from `dependencies` the way Node resolves it (nested node_modules first)
// and checks that every Node version our range admits satisfies each
// package's own `engines.node`.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import semver from "semver";
import t from "tap";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const readJson = (file: string) =>
  JSON.parse(readFileSync(file, "utf8")) as {
    name?: string;
    version?: string;
    engines?: { node?: string };
    dependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  };

/** The folder Node would load `name` from, for a package in `fromDir`. */
function resolvePackage(name: string, fromDir: string): string | null {
  for (let dir = fromDir; ; dir = dirname(dir)) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return candidate;
    if (dir === root || dirname(dir) === dir) return null;
  }
}

t.test("every runtime dependency, direct or transitive, runs on every Node version package.json's engines admits", async (t) => {
  const pkg = readJson(join(root, "package.json"));
  const ours = pkg.engines?.node;
  t.ok(ours && semver.validRange(ours), `package.json engines.node is a range (${ours})`);
  const seen = new Set<string>();
  const violations: string[] = [];
  const visit = (dir: string, chain: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const p = readJson(join(dir, "package.json"));
    const theirs = p.engines?.node;
    if (theirs && !semver.subset(ours!, theirs, { includePrerelease: false }))
      violations.push(`${chain} (${p.version}) needs node ${theirs}`);
    const optionalPeers = Object.entries(p.peerDependenciesMeta ?? {})
      .filter(([, m]) => m.optional)
      .map(([n]) => n);
    const deps = [
      ...Object.keys(p.dependencies ?? {}),
      ...Object.keys(p.optionalDependencies ?? {}),
      ...Object.keys(p.peerDependencies ?? {}).filter((n) => !optionalPeers.includes(n)),
    ];
    for (const name of deps) {
      const found = resolvePackage(name, dir);
      // An optional dependency for another platform is not installed: nothing to load.
      if (found) visit(found, `${chain} > ${name}`);
    }
  };
  for (const name of Object.keys(pkg.dependencies ?? {})) {
    const found = resolvePackage(name, root);
    t.ok(found, `${name} is installed`);
    if (found) visit(found, name);
  }
  t.ok(seen.size > 20, `walked ${seen.size} installed runtime packages`);
  t.same(violations, [], `no runtime package needs more than node ${ours}`);
});
