import { customClaimsOf } from "./claims.js";
import type { AccessTokenClaims } from "./ports.js";
import { transportOf, type PresentedVia } from "./types.js";

/** SPEC §10: the application of sessions whose token names none. */
export const DEFAULT_CLIENT_ID = "default";

/** One gateway question in plain values (the HTTP layer reads them from the request). */
export interface ForwardAuthQuestion {
  /** The token and where it was found: the Authorization header wins over the cookie (SPEC §12). */
  token: { value: string; via: PresentedVia } | null;
  /** The original request's method is not GET, HEAD or OPTIONS. */
  unsafe: boolean;
  /**
   * The double-submit CSRF header and the Origin check against the session's
   * application (`clientId`): asked only of a live cookie session's unsafe request.
   */
  csrfPassed: (clientId: string) => boolean;
}

export interface ForwardIdentity {
  subject: string;
  session: string;
  client: string;
  /** Unix seconds. */
  expires: number;
  /** The custom claims, or null when the token carries none. */
  claims: Record<string, unknown> | null;
}

export type ForwardAuthAnswer =
  | { outcome: "allow"; identity: ForwardIdentity }
  | { outcome: "no_token" }
  | { outcome: "invalid_token" }
  | { outcome: "forbidden" };

/** What forward authentication needs of introspection: the same live check. */
export interface LiveAccessCheck {
  liveAccessClaims(token: string): Promise<AccessTokenClaims | null>;
}

/**
 * GET /forward-auth (SPEC §12): the gateway's per-request question, answered
 * by the same live check as /introspect (the verified-claims cache and the
 * layered revocation check), so it is as consistent and as cheap.
 */
export class ForwardAuth {
  constructor(private readonly live: LiveAccessCheck) {}

  async decide(q: ForwardAuthQuestion): Promise<ForwardAuthAnswer> {
    if (!q.token) return { outcome: "no_token" };
    const claims = await this.live.liveAccessClaims(q.token.value);
    // SPEC §3: the transport binding holds here as on the service's own endpoints.
    if (!claims || claims.trn !== transportOf(q.token.via)) return { outcome: "invalid_token" };
    const identity = identityOf(claims);
    if (claims.trn === "cookie" && q.unsafe && !q.csrfPassed(identity.client)) return { outcome: "forbidden" };
    return { outcome: "allow", identity };
  }
}

/** The identity a gateway copies to its upstream. */
export function identityOf(claims: AccessTokenClaims): ForwardIdentity {
  return {
    subject: claims.sub,
    session: claims.sid,
    client: typeof claims.client_id === "string" ? claims.client_id : DEFAULT_CLIENT_ID,
    expires: claims.exp,
    claims: customClaimsOf(claims),
  };
}

/** RFC 9110 §9.2.1: only these leave the resource as it was. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * SPEC §12: the original request is unsafe when its own method, or the
 * method a gateway names in X-Forwarded-Method or X-Original-Method, is not
 * a safe one.
 */
export function isUnsafe(methods: ReadonlyArray<string | undefined>): boolean {
  return methods.some((m) => m !== undefined && !SAFE_METHODS.has(m.toUpperCase()));
}
