import type { FastifyRequest } from "fastify";
import { type Application, DEFAULT_APPLICATION_ID } from "../domain/applications.js";
import { forbidden } from "../domain/errors.js";

/** An application by id, reading the table again when this instance does not know it yet (ApplicationCache.lookup). */
export interface ApplicationLookup {
  lookup(id: string): Promise<Pick<Application, "origins"> | undefined>;
}

/**
 * SPEC §13: an unsafe request of a cookie session that carries an Origin
 * must come from one of its application's origins, besides the CSRF check;
 * `clientId` names the application (absent: `default`). The service's own
 * origin (its ISSUER, or the origin the request was addressed to) is always
 * allowed: pages served beside the service, as the same-origin deployment
 * and the `default` application (which lists no origins unless configured)
 * have, keep working. That is no gap: a page that shares the service's
 * origin already shares its cookies. `clientId` may be a read of it, made
 * only when the Origin is a foreign one.
 */
export type CookieOriginCheck = (request: FastifyRequest, clientId: string | undefined | (() => Promise<string | null>)) => Promise<void>;

export function cookieOriginCheck(applications: ApplicationLookup, issuer: string): CookieOriginCheck {
  const issuerOrigin = new URL(issuer).origin;
  return async (request, clientId) => {
    const origin = request.headers.origin;
    if (origin === undefined || origin === issuerOrigin || origin === addressedOrigin(request)) return;
    const id = typeof clientId === "function" ? await clientId() : clientId;
    const app = await applications.lookup(id ?? DEFAULT_APPLICATION_ID);
    if (app?.origins.includes(origin)) return;
    throw forbidden("the request's Origin is not one of its application's origins");
  };
}

/** The origin the browser addressed: Host and scheme as Fastify reads them (behind a trusted proxy, its X-Forwarded-*). */
function addressedOrigin(request: FastifyRequest): string | null {
  try {
    return new URL(`${request.protocol}://${request.host}`).origin;
  } catch {
    return null;
  }
}
