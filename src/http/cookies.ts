import type {} from "@fastify/cookie";
import { randomBytes } from "node:crypto";
import type { FastifyReply, FastifyRequest } from "fastify";
import { safeEqual } from "../crypto/opaque-token.js";
import { AppError } from "../domain/errors.js";
import type { IssuedTokens } from "../domain/session-service.js";

export interface CookieSettings {
  secure: boolean;
  sameSite: "strict" | "lax";
}

export const CSRF_HEADER = "x-csrf-token";

/**
 * Cookie names. Over https they carry the `__Host-`/`__Secure-` prefixes, so
 * a sibling subdomain cannot plant or overwrite them; the refresh cookie is
 * path-scoped to /refresh and so cannot use `__Host-`.
 */
export function cookieNames(secure: boolean) {
  return secure
    ? { access: "__Host-sa_access", refresh: "__Secure-sa_refresh", csrf: "__Host-sa_csrf" }
    : { access: "sa_access", refresh: "sa_refresh", csrf: "sa_csrf" };
}

/**
 * Writes the session cookies of a cookie-transport login or refresh and
 * returns the CSRF value, which the body carries too (SPEC §13): a page on
 * another origin cannot read the service's cookies.
 */
export function setSessionCookies(reply: FastifyReply, tokens: IssuedTokens, settings: CookieSettings): string {
  const names = cookieNames(settings.secure);
  const base = { secure: settings.secure, sameSite: settings.sameSite } as const;
  void reply.setCookie(names.access, tokens.accessToken, { ...base, httpOnly: true, path: "/", maxAge: tokens.expiresIn });
  void reply.setCookie(names.refresh, tokens.refreshToken, { ...base, httpOnly: true, path: "/refresh", maxAge: tokens.refreshExpiresIn });
  // Readable by the page's script, which echoes it in x-csrf-token (double submit).
  const csrf = randomBytes(32).toString("base64url");
  void reply.setCookie(names.csrf, csrf, { ...base, httpOnly: false, path: "/", maxAge: tokens.refreshExpiresIn });
  return csrf;
}

/** Clears the session cookies: a refresh that failed for good must not loop (docs/lessons.md, "Cookies and headers"). */
export function clearSessionCookies(reply: FastifyReply, settings: CookieSettings): void {
  const names = cookieNames(settings.secure);
  const base = { secure: settings.secure, sameSite: settings.sameSite } as const;
  void reply.clearCookie(names.access, { ...base, path: "/" });
  void reply.clearCookie(names.refresh, { ...base, path: "/refresh" });
  void reply.clearCookie(names.csrf, { ...base, path: "/" });
}

/** Double-submit check: the x-csrf-token header equals the CSRF cookie. */
export function csrfMatches(request: FastifyRequest, settings: CookieSettings): boolean {
  const cookie = request.cookies[cookieNames(settings.secure).csrf];
  const header = request.headers[CSRF_HEADER];
  return typeof cookie === "string" && cookie.length > 0 && typeof header === "string" && safeEqual(cookie, header);
}

export function requireCsrf(request: FastifyRequest, settings: CookieSettings): void {
  if (!csrfMatches(request, settings)) {
    throw new AppError("invalid_request", 403, "missing or mismatched CSRF token (x-csrf-token must equal the CSRF cookie)");
  }
}
