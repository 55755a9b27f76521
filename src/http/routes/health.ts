import type { Services } from "../../services.js";
import type { App } from "../types.js";

/** GET /healthz (process up) and GET /readyz (SPEC §5: Postgres, Redis or degraded, keys). */
export function registerHealth(app: App, services: Services): void {
  app.get("/healthz", async () => ({ status: "ok" }));
  app.get("/readyz", async (_request, reply) => {
    const report = await services.readiness();
    void reply.header("cache-control", "no-store");
    return reply.status(report.ready ? 200 : 503).send(report);
  });
}
