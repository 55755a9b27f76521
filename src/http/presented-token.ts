import type {} from "@fastify/cookie";
import type { FastifyRequest } from "fastify";
import type { PresentedVia } from "../domain/types.js";
import { cookieNames, type CookieSettings } from "./cookies.js";

const BEARER = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/;

export type PresentedToken = { value: string; via: PresentedVia } | "malformed" | null;

/**
 * The access token a request presents: the Authorization header when there
 * is one (it must be `Bearer <token>`), else the access cookie; null for none.
 */
export function presentedAccessToken(request: FastifyRequest, cookies: CookieSettings): PresentedToken {
  const header = request.headers.authorization;
  if (typeof header === "string" && header.length > 0) {
    const m = BEARER.exec(header);
    return m ? { value: m[1]!, via: "header" } : "malformed";
  }
  const cookie = request.cookies[cookieNames(cookies.secure).access];
  return typeof cookie === "string" && cookie.length > 0 ? { value: cookie, via: "cookie" } : null;
}
