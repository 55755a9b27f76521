import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { App } from "../types.js";

const dir = fileURLToPath(new URL("../../../admin-ui/", import.meta.url));
const FILES: Record<string, { file: string; type: string }> = {
  "/admin": { file: "index.html", type: "text/html; charset=utf-8" },
  "/admin/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/admin/lib.js": { file: "lib.js", type: "text/javascript; charset=utf-8" },
  "/admin/applications.js": { file: "applications.js", type: "text/javascript; charset=utf-8" },
  "/admin/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

/**
 * The admin web page: static files served by the service itself (no
 * build step, nothing to run beside it). It calls the admin API with the
 * client credentials the operator signs in with.
 */
export function registerAdminUi(app: App): void {
  for (const [path, { file, type }] of Object.entries(FILES)) {
    const body = readFileSync(dir + file, "utf8");
    app.get(path, async (_request, reply) => {
      void reply.header("cache-control", "no-cache");
      void reply.header(
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
      );
      return reply.type(type).send(body);
    });
  }
}
