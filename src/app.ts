import { randomUUID } from "node:crypto";
import cookie from "@fastify/cookie";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Fastify, { type FastifyInstance } from "fastify";
import { parse as parseQueryString } from "fast-querystring";
import type { Logger } from "pino";
import { invalidRequest } from "./domain/errors.js";
import { registerClientCors } from "./http/cors.js";
import { registerErrorHandling } from "./http/errors.js";
import { lazyChildLoggerFactory } from "./http/lazy-logger.js";
import { securityHeaders } from "./http/security-headers.js";
import { registerForwardAuth } from "./http/routes/forward-auth.js";
import { refuseUnstorableInput } from "./http/storable-input.js";
import { registerHealth } from "./http/routes/health.js";
import { registerIntrospect } from "./http/routes/introspect.js";
import { registerIssueSession } from "./http/routes/issue-session.js";
import { registerLogin } from "./http/routes/login.js";
import { registerLogout } from "./http/routes/logout.js";
import { registerOAuthMetadata } from "./http/routes/oauth-metadata.js";
import { registerRefresh } from "./http/routes/refresh.js";
import { registerRevocationStream } from "./http/routes/revocation-stream.js";
import { registerRevocations } from "./http/routes/revocations.js";
import { registerRevoke } from "./http/routes/revoke.js";
import { registerSessions } from "./http/routes/sessions.js";
import { registerWellKnown } from "./http/routes/well-known.js";
import { registerAdminApplications } from "./http/routes/admin-applications.js";
import { registerAdminAudit } from "./http/routes/admin-audit.js";
import { registerAdminWebhooks } from "./http/routes/admin-webhooks.js";
import { registerAdminClients } from "./http/routes/admin-clients.js";
import { registerAdminKeys } from "./http/routes/admin-keys.js";
import { registerAdminSessions } from "./http/routes/admin-sessions.js";
import { registerAdminUi } from "./http/routes/admin-ui.js";
import { registerAdminUsers } from "./http/routes/admin-users.js";
import { registerMetrics } from "./http/routes/metrics.js";
import { registerOpenApi } from "./http/routes/openapi.js";
import type { App } from "./http/types.js";
import { loggerOptions } from "./logger.js";
import type { Services } from "./services.js";

export interface AppOptions {
  /** A pino logger to use (tests capture output through it); default: one from the config. */
  logger?: Logger;
  /** Heartbeat period of GET /revocations/stream (default 5 s, the SPEC's bound). */
  sseHeartbeatMs?: number;
}

declare module "fastify" {
  interface FastifyInstance {
    registeredRoutes: ReadonlyArray<{ method: string; url: string }>;
  }
}

const OPENAPI_METHODS = new Set(["GET", "PUT", "POST", "DELETE", "OPTIONS", "PATCH", "TRACE"]);

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * ajv still honours `unicode: false` but calls it deprecated on every
 * compiler it builds; that one notice is dropped, everything else is kept.
 */
const AJV_LOGGER = {
  log: (...args: unknown[]) => console.log(...args),
  warn: (...args: unknown[]) => {
    if (typeof args[0] === "string" && args[0].startsWith("DEPRECATED: option unicode.")) return;
    console.warn(...args);
  },
  error: (...args: unknown[]) => console.error(...args),
};

/** Builds the Fastify app on the given services. Never listens: server.ts does. */
export async function buildApp(services: Services, opts: AppOptions = {}): Promise<FastifyInstance> {
  const { config } = services;
  const app = Fastify({
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: loggerOptions(config.log.level) }),
    bodyLimit: config.server.bodyLimit,
    trustProxy: config.server.trustProxy,
    requestIdHeader: "x-request-id",
    genReqId: (req) => {
      const given = req.headers["x-request-id"];
      return typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // unicode: false counts string lengths in UTF-16 units (String#length) instead of walking every
    // character of every token: never looser than code points, and the limits only guard sizes.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false, unicode: false, logger: AJV_LOGGER } },
    return503OnClosing: true,
    childLoggerFactory: lazyChildLoggerFactory,
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // Every route as registered, for the test that openapi.yaml documents them all
  // (in the methods OpenAPI can name: /forward-auth also takes WebDAV's).
  const routes: Array<{ method: string; url: string }> = [];
  app.addHook("onRoute", (r) => {
    // "*" is @fastify/cors' catch-all preflight route, a 404 outside the client paths (http/cors.ts).
    if (r.url === "*") return;
    for (const method of [r.method].flat()) if (method !== "HEAD" && OPENAPI_METHODS.has(method)) routes.push({ method, url: r.url });
  });
  app.decorate("registeredRoutes", routes);

  registerErrorHandling(app);
  await app.register(cookie);
  // Hooks on every request take callbacks, not promises: introspection is a hot path.
  app.addHook("onSend", securityHeaders);
  // JSON and forms only: anything else is 415, not a string the schemas reject.
  app.removeContentTypeParser("text/plain");
  // OAuth clients (RFC 6749, 7009, 7662) send forms; a repeated parameter is an error (RFC 6749 §3.1).
  // fast-querystring (Fastify's own query parser) gives repeated keys as arrays and a null-prototype object.
  app.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_req, body, done) => {
    const params = parseQueryString(body as string) as Record<string, string | string[]>;
    for (const k in params) {
      // Error descriptions never repeat input: the name is not echoed.
      if (Array.isArray(params[k])) return done(invalidRequest("a form parameter is repeated"), undefined);
    }
    done(null, params);
  });

  // An empty body is an empty object: optional-only bodies (logout, refresh by
  // cookie) then validate, and required fields are reported by name.
  app.addHook("preValidation", (request, _reply, done) => {
    if (request.body === undefined || request.body === null) (request as { body: unknown }).body = {};
    done();
  });
  // One rule for every route: nothing Postgres cannot store gets past here.
  app.addHook("preValidation", refuseUnstorableInput);

  registerHealth(app, services);
  registerMetrics(app, services);
  registerOpenApi(app);
  registerWellKnown(app, services);
  // Client-facing routes in a scope of their own: its CORS hook (SPEC §13) reaches nothing else.
  await app.register(async (client) => {
    await registerClientCors(client, services.applications);
    registerLogin(client, services);
    registerRefresh(client, services);
    registerLogout(client, services);
    registerSessions(client, services);
  });
  // Service-facing (SPEC §5).
  registerOAuthMetadata(app, services);
  registerIntrospect(app, services);
  registerForwardAuth(app, {
    forwardAuth: services.forwardAuth,
    cookies: config.cookies,
    applications: services.applications,
    onAnswer: services.metrics.forwardAuth,
  });
  registerRevoke(app, services);
  registerIssueSession(app, services);
  registerRevocations(app, services);
  registerRevocationStream(app, services, { heartbeatMs: opts.sseHeartbeatMs ?? 5_000 });
  registerAdminUsers(app, services);
  registerAdminSessions(app, services);
  registerAdminClients(app, services);
  registerAdminKeys(app, services);
  registerAdminAudit(app, services);
  registerAdminWebhooks(app, services);
  registerAdminApplications(app, services);
  registerAdminUi(app);
  return app as unknown as FastifyInstance;
}
