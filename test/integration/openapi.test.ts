import t from "tap";
import { parse } from "yaml";
import { testApp } from "../fixtures/app.js";

/** Fastify's `:id` → OpenAPI's `{id}`, and a trailing wildcard → `{path}`. */
const toOpenApiPath = (url: string) => url.replace(/:([A-Za-z_]+)/g, "{$1}").replace(/\/\*$/, "/{path}");
const OPERATIONS = new Set(["get", "put", "post", "delete", "options", "head", "patch", "trace"]);
const fromOpenApiPath = (path: string) => path.replace(/\/\{path\}$/, "/*").replace(/\{([A-Za-z_]+)\}/g, ":$1");

t.test("every registered route is documented in openapi.yaml, and nothing documented is missing", async (t) => {
  const { app } = await testApp(t, "embedded");
  const res = await app.inject({ url: "/openapi.yaml" });
  t.equal(res.statusCode, 200);
  t.match(res.headers["content-type"], /yaml/);
  const doc = parse(res.body) as { paths: Record<string, Record<string, unknown>> };

  const registered = new Set(app.registeredRoutes.map((r) => `${r.method} ${r.url}`));
  t.ok(registered.size > 5, `found routes: ${[...registered].join(", ")}`);
  for (const route of registered) {
    const [method, url] = route.split(" ") as [string, string];
    t.ok(doc.paths[toOpenApiPath(url)]?.[method.toLowerCase()], `${route} is documented`);
  }
  for (const [path, ops] of Object.entries(doc.paths)) {
    // A path item also holds `parameters`, `summary`, `description`.
    for (const method of Object.keys(ops).filter((k) => OPERATIONS.has(k))) {
      const url = fromOpenApiPath(path);
      t.ok(app.hasRoute({ method: method.toUpperCase() as "GET", url }), `documented ${method.toUpperCase()} ${path} exists`);
    }
  }
});
