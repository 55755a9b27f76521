import type {} from "@fastify/cookie";
import type { FastifyReply, FastifyRequest } from "fastify";
import type { AccessAuthenticator, Authenticated } from "../domain/access-auth.js";
import { invalidToken } from "../domain/errors.js";
import { cookieNames, requireCsrf, type CookieSettings } from "./cookies.js";

declare module "fastify" {
  interface FastifyRequest {
    auth?: Authenticated;
  }
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

/**
 * preHandler for endpoints that take an access token: from the Authorization
 * header, else from the access cookie (which also requires the CSRF header on
 * anything but a safe method).
 */
export function accessTokenGuard(authenticator: AccessAuthenticator, cookies: CookieSettings) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    if (typeof header === "string" && header.length > 0) {
      const m = BEARER.exec(header);
      if (!m) throw invalidToken("the Authorization header must be `Bearer <token>`");
      request.auth = await authenticator.authenticate(m[1]!, "header");
      return;
    }
    const cookie = request.cookies[cookieNames(cookies.secure).access];
    if (typeof cookie === "string" && cookie.length > 0) {
      if (request.method !== "GET" && request.method !== "HEAD") requireCsrf(request, cookies);
      request.auth = await authenticator.authenticate(cookie, "cookie");
      return;
    }
    void reply.header("www-authenticate", 'Bearer realm="session-authority"');
    throw invalidToken("an access token is required");
  };
}
