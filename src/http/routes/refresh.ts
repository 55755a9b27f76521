import type {} from "@fastify/cookie";
import { Type } from "typebox";
import { AppError, invalidRequest } from "../../domain/errors.js";
import type { Services } from "../../services.js";
import { attemptKey } from "../../rate-limit/attempt-limiter.js";
import { withBackoff } from "../backoff.js";
import { clientContext } from "../client-context.js";
import { cookieOriginCheck } from "../cookie-origin.js";
import { clearSessionCookies, cookieNames, requireCsrf, setSessionCookies } from "../cookies.js";
import { errorResponses, RefreshTokenField, TokenResponse } from "../schemas.js";
import { tokenBody } from "../token-body.js";
import type { App } from "../types.js";

const RefreshBody = Type.Object(
  {
    refresh_token: Type.Optional(RefreshTokenField),
    // RFC 6749 §6 style clients send this; accepted and ignored.
    grant_type: Type.Optional(Type.Literal("refresh_token")),
  },
  { additionalProperties: false },
);

/**
 * POST /refresh (SPEC §5): bearer sessions send `{ refresh_token }`; cookie
 * sessions send the refresh cookie plus the CSRF header. Where the token came
 * from is the transport it is checked against.
 */
export function registerRefresh(app: App, services: Services): void {
  const cookies = services.config.cookies;
  const originCheck = cookieOriginCheck(services.applications, services.config.tokens.issuer);
  // SPEC §3: the reuse grace is measured to when the request arrived, before any queueing in this process.
  const arrivals = new WeakMap<object, Date>();
  app.post(
    "/refresh",
    {
      schema: { body: RefreshBody, response: { 200: TokenResponse, ...errorResponses } },
      onRequest: (request, _reply, done) => {
        arrivals.set(request, services.clock.now());
        done();
      },
    },
    async (request, reply) => {
      void reply.header("cache-control", "no-store");
      const fromBody = request.body.refresh_token;
      const fromCookie = request.cookies[cookieNames(cookies.secure).refresh];
      const ctx = clientContext(request);
      const arrivedAt = arrivals.get(request) ?? services.clock.now();
      const keys = [attemptKey.refreshIp(request.ip)];
      const refresh = (token: string, transport: "bearer" | "cookie") =>
        withBackoff(services, "refresh", { keys }, ctx, () => services.sessions.refresh(token, transport, ctx, arrivedAt));
      if (fromBody !== undefined) return tokenBody(await refresh(fromBody, "bearer"));
      if (typeof fromCookie !== "string" || fromCookie.length === 0) {
        throw invalidRequest("a refresh_token (body) or the refresh cookie is required");
      }
      requireCsrf(request, cookies);
      // SPEC §13: checked before the token is used, so a refused request rotates and clears nothing.
      await originCheck(request, () => services.sessionApplications.ofRefreshToken(fromCookie));
      try {
        const tokens = await refresh(fromCookie, "cookie");
        return tokenBody(tokens, setSessionCookies(reply, tokens, cookies));
      } catch (err) {
        // A refresh that fails for good clears the cookies, so the page stops retrying.
        if (err instanceof AppError && (err.code === "invalid_grant" || err.code === "transport_mismatch")) {
          clearSessionCookies(reply, cookies);
        }
        throw err;
      }
    },
  );
}
