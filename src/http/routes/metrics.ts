import type { Services } from "../../services.js";
import type { App } from "../types.js";

/**
 * GET /metrics (SPEC §5): Prometheus text. It reveals counts, never tokens or
 * identities; restrict it at the network level like any scrape endpoint.
 */
export function registerMetrics(app: App, services: Services): void {
  app.get("/metrics", async (_request, reply) => {
    const body = await services.metrics.registry.metrics();
    return reply.type(services.metrics.registry.contentType).send(body);
  });
  app.addHook("onResponse", (request, reply, done) => {
    const route = request.routeOptions.url;
    // Unmatched URLs share one label: a scan must not grow the label set.
    services.metrics.request(request.method, route ?? "unmatched", reply.statusCode, reply.elapsedTime / 1000);
    done();
  });
}
