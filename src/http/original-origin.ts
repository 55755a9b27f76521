import type { FastifyRequest } from "fastify";

/** The nearest proxy appends to a forwarded list: its entry is the last. */
const last = (v: string | string[] | undefined): string | undefined => {
  const s = Array.isArray(v) ? v[v.length - 1] : v;
  const entry = s?.split(",").pop()?.trim();
  return entry ? entry : undefined;
};

/**
 * The origin of the request a gateway is asking about: X-Forwarded-Proto and
 * X-Forwarded-Host (Caddy, Traefik, Envoy send them; the README's nginx
 * configuration sets them), else X-Original-URL when it is absolute.
 */
export function originalOrigin(request: FastifyRequest): string | null {
  const host = last(request.headers["x-forwarded-host"]);
  const proto = last(request.headers["x-forwarded-proto"]);
  if (host && proto) return safeOrigin(`${proto}://${host}`);
  const url = last(request.headers["x-original-url"]);
  return url ? safeOrigin(url) : null;
}

function safeOrigin(url: string): string | null {
  try {
    const o = new URL(url).origin;
    return o === "null" ? null : o;
  } catch {
    return null;
  }
}

/**
 * SPEC §12: an unsafe cookie request that carries an Origin must come from
 * one of its application's origins (SPEC §10), or from the origin of the
 * original request itself (a page served beside what it calls, as with the
 * `default` application, which lists none unless configured); an Origin
 * that cannot be compared with anything is refused.
 */
export function originAllowed(request: FastifyRequest, applicationOrigins: readonly string[]): boolean {
  const origin = request.headers.origin;
  if (origin === undefined || applicationOrigins.includes(origin)) return true;
  const page = safeOrigin(origin);
  return page !== null && page === originalOrigin(request);
}
