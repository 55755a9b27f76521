import type {} from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AccessAuthenticator, Authenticated } from "../domain/access-auth.js";
import { invalidToken } from "../domain/errors.js";
import type { CookieOriginCheck } from "./cookie-origin.js";
import { requireCsrf, type CookieSettings } from "./cookies.js";
import { presentedAccessToken } from "./presented-token.js";

declare module "fastify" {
  interface FastifyRequest {
    auth?: Authenticated;
  }
}

/**
 * preHandler for endpoints that take an access token: from the Authorization
 * header, else from the access cookie (which also requires, on anything but
 * a safe method, the CSRF header and an Origin, when present, of the
 * session's application: SPEC §13).
 */
export function accessTokenGuard(authenticator: AccessAuthenticator, cookies: CookieSettings, originCheck: CookieOriginCheck) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = presentedAccessToken(request, cookies);
    if (token === "malformed") throw invalidToken("the Authorization header must be `Bearer <token>`");
    if (token === null) {
      void reply.header("www-authenticate", 'Bearer realm="session-authority"');
      throw invalidToken("an access token is required");
    }
    const unsafeCookie = token.via === "cookie" && request.method !== "GET" && request.method !== "HEAD";
    if (unsafeCookie) requireCsrf(request, cookies);
    const auth = await authenticator.authenticate(token.value, token.via);
    if (unsafeCookie) await originCheck(request, auth.claims.client_id);
    request.auth = auth;
  };
}
