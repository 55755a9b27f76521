import cors, { type FastifyCorsOptions } from "@fastify/cors";
import type { FastifyRequest } from "fastify";
import type { Application } from "../domain/applications.js";
import { CSRF_HEADER } from "./cookies.js";
import type { App } from "./types.js";

/** The client-facing routes (SPEC §13) and the methods a page may call them with. */
const CLIENT_ROUTES: Readonly<Record<string, readonly string[]>> = {
  "/login": ["POST"],
  "/refresh": ["POST"],
  "/logout": ["POST"],
  "/sessions": ["GET", "DELETE"],
  "/sessions/:id": ["DELETE"],
};

/** What the browser module sends (src/browser/index.ts), and a request id for support. */
const ALLOWED_HEADERS = ["authorization", "content-type", CSRF_HEADER, "x-request-id"];
/** What a page may want to read of an answer besides its body: when to retry, and why a token was refused. */
const EXPOSED_HEADERS = ["retry-after", "www-authenticate"];

/** Where every application's origins are read from: the in-memory cache, reloaded every 2 s. */
export interface ApplicationOrigins {
  all(): ReadonlyArray<Pick<Application, "origins">>;
}

/** An origin some application lists (origins are stored normalized, as browsers send them). */
export const listedOrigin = (applications: ApplicationOrigins, origin: string): boolean =>
  applications.all().some((a) => a.origins.includes(origin));

declare module "fastify" {
  interface FastifyRequest {
    /** Set by @fastify/cors when it answered a preflight it allows. */
    corsPreflightEnabled?: boolean;
  }
}

const OFF: FastifyCorsOptions = { origin: false };

/**
 * CORS for the client-facing routes (SPEC §13), registered on the scope that
 * holds only them, so no other route carries a CORS header or pays for the
 * hook. An origin that some application lists is echoed (never `*`) with
 * credentials; any other origin gets no CORS headers, and its preflight the
 * 404 of a route that does not exist.
 */
export async function registerClientCors(scope: App, applications: ApplicationOrigins): Promise<void> {
  const optionsFor = (request: FastifyRequest): FastifyCorsOptions => {
    const origin = request.headers.origin;
    const methods = CLIENT_ROUTES[request.routeOptions.url ?? ""];
    if (origin === undefined || methods === undefined) return OFF;
    const asked = request.method === "OPTIONS" ? request.headers["access-control-request-method"] : request.method;
    if (typeof asked !== "string" || !methods.includes(asked.toUpperCase()) || !listedOrigin(applications, origin)) return OFF;
    return {
      origin,
      credentials: true,
      methods: [...methods],
      allowedHeaders: ALLOWED_HEADERS,
      exposedHeaders: EXPOSED_HEADERS,
      maxAge: 600,
    };
  };
  await scope.register(cors, { delegator: (request, cb) => cb(null, optionsFor(request)) });
  // The plugin's catch-all OPTIONS route serves the paths without a route
  // here; each client path gets its own, so that openapi.yaml can name them.
  for (const url of Object.keys(CLIENT_ROUTES)) {
    scope.options(url, (request, reply) => {
      // The hook above answered a preflight it allows; anything else is no route.
      if (!request.corsPreflightEnabled) return reply.callNotFound();
      return reply.send();
    });
  }
}
