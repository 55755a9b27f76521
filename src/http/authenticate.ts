import type {} from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AccessAuthenticator, Authenticated } from "../domain/access-auth.js";
import { invalidToken } from "../domain/errors.js";
import { requireCsrf, type CookieSettings } from "./cookies.js";
import { presentedAccessToken } from "./presented-token.js";

declare module "fastify" {
  interface FastifyRequest {
    auth?: Authenticated;
  }
}

/**
 * preHandler for endpoints that take an access token: from the Authorization
 * header, else from the access cookie (which also requires the CSRF header on
 * anything but a safe method).
 */
export function accessTokenGuard(authenticator: AccessAuthenticator, cookies: CookieSettings) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const token = presentedAccessToken(request, cookies);
    if (token === "malformed") throw invalidToken("the Authorization header must be `Bearer <token>`");
    if (token === null) {
      void reply.header("www-authenticate", 'Bearer realm="session-authority"');
      throw invalidToken("an access token is required");
    }
    if (token.via === "cookie" && request.method !== "GET" && request.method !== "HEAD") requireCsrf(request, cookies);
    request.auth = await authenticator.authenticate(token.value, token.via);
  };
}
