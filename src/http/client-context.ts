import type { FastifyRequest } from "fastify";
import type { ClientContext } from "../domain/types.js";

/** What the request says about the caller's device; bounded, never trusted for more than scoring. */
export function clientContext(request: FastifyRequest): ClientContext {
  const ua = request.headers["user-agent"];
  return {
    ip: request.ip ?? null,
    userAgent: typeof ua === "string" && ua.length > 0 ? ua.slice(0, 512) : null,
  };
}
