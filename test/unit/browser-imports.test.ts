// SPEC §13: `session-authority/browser` is an ES module with no dependencies:
// its import graph stays inside src/browser, with no package and no Node
// built-in, and package.json exports its build.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import t from "tap";
import ts from "typescript";

const DIR = fileURLToPath(new URL("../../src/browser/", import.meta.url));

t.test("the browser module imports nothing outside src/browser", async (t) => {
  const seen = new Set<string>();
  const bad: string[] = [];
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(file, "utf8"), true, true).importedFiles) {
      const target = resolve(dirname(file), spec.replace(/\.js$/, ".ts"));
      if (!spec.startsWith(".") || !target.startsWith(DIR)) bad.push(`${file.slice(DIR.length)} imports ${spec}`);
      else visit(target);
    }
  };
  visit(resolve(DIR, "index.ts"));
  t.same(bad, [], "only relative imports inside src/browser");
  t.ok(seen.size >= 3, `followed ${seen.size} files`);
});

t.test("package.json exports session-authority/browser as its build", async (t) => {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
  t.same(pkg.exports["./browser"], { types: "./dist/browser/index.d.ts", default: "./dist/browser/index.js" });
  t.notOk(
    JSON.parse(readFileSync(new URL("../../tsconfig.build.json", import.meta.url), "utf8")).exclude?.includes("src/browser"),
    "the build compiles it",
  );
});
