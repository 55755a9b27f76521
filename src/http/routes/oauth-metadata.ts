import type { Services } from "../../services.js";
import type { App } from "../types.js";

const AUTH_METHODS = ["client_secret_basic", "client_secret_post"];

/**
 * GET /.well-known/oauth-authorization-server (RFC 8414). This service is
 * not a full authorization server (no authorization or token endpoint of
 * RFC 6749), so it lists what it has: its keys, introspection and
 * revocation, and how clients authenticate to them.
 */
export function registerOAuthMetadata(app: App, services: Services): void {
  const issuer = services.config.tokens.issuer;
  const base = issuer.replace(/\/+$/, "");
  const maxAge = Math.max(1, Math.min(300, Math.floor(services.config.tokens.keyPrepublishMs / 2000)));
  app.get("/.well-known/oauth-authorization-server", async (_request, reply) => {
    void reply.header("cache-control", `public, max-age=${maxAge}`);
    const algs = [...new Set(services.keys.jwks().keys.map((k) => k.alg))];
    return {
      issuer,
      jwks_uri: `${base}/.well-known/jwks.json`,
      introspection_endpoint: `${base}/introspect`,
      revocation_endpoint: `${base}/revoke`,
      // RFC 8414 §2 requires the member; no OAuth response type is served here.
      response_types_supported: [],
      token_endpoint_auth_methods_supported: AUTH_METHODS,
      introspection_endpoint_auth_methods_supported: AUTH_METHODS,
      revocation_endpoint_auth_methods_supported: AUTH_METHODS,
      // Not a registered member (RFC 8414 §2 allows others): the `alg`s access tokens
      // (RFC 9068 JWTs) may be signed with, i.e. those of the published keys.
      access_token_signing_alg_values_supported: algs,
      service_documentation: `${base}/openapi.yaml`,
    };
  });
}
