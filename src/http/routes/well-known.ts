import type { Services } from "../../services.js";
import type { App } from "../types.js";

/** GET /.well-known/jwks.json (SPEC §2): every key a valid token may carry, plus the next one. */
export function registerWellKnown(app: App, services: Services): void {
  // A verifier's cached JWKS must never miss a key that signs: cache for at
  // most half the pre-publication window (and never more than 5 minutes).
  const maxAge = Math.max(1, Math.min(300, Math.floor(services.config.tokens.keyPrepublishMs / 2000)));
  app.get("/.well-known/jwks.json", async (_request, reply) => {
    void reply.header("cache-control", `public, max-age=${maxAge}`);
    return services.keys.jwks();
  });
}
