import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { App } from "../types.js";

/** openapi.yaml at the repository root; three levels up from src/http/routes/ and from dist/http/routes/. */
export const OPENAPI_PATH = fileURLToPath(new URL("../../../openapi.yaml", import.meta.url));

/** GET /openapi.yaml (SPEC §5): the API description, read once at start. */
export function registerOpenApi(app: App): void {
  const document = readFileSync(OPENAPI_PATH, "utf8");
  app.get("/openapi.yaml", async (_request, reply) => {
    void reply.header("cache-control", "public, max-age=300");
    return reply.type("application/yaml; charset=utf-8").send(document);
  });
}
