import { hashToken, looksLikeOpaqueToken } from "../crypto/opaque-token.js";
import { DEFAULT_APPLICATION_ID } from "./applications.js";
import type { Clock } from "./clock.js";
import { customClaimsOf } from "./claims.js";
import { AppError } from "./errors.js";
import type { AccessTokenClaims, AccessTokenVerifier, SessionStore, UserStore } from "./ports.js";
import type { RevocationCheck } from "./revocation-ports.js";
import type { SessionOwners } from "./session-owners.js";
import { sessionState } from "./session-policy.js";
import { transportOf, type PresentedVia, type SessionRecord, type Transport } from "./types.js";

/** RFC 7662 §2.2: an inactive token reveals nothing else. */
export const INACTIVE = Object.freeze({ active: false as const });

export interface ActiveToken {
  active: true;
  sub: string;
  sid: string;
  exp: number;
  iat: number;
  iss: string;
  aud: string | string[];
  jti: string;
  token_type: "access_token" | "refresh_token";
  trn: Transport;
  /** SPEC §10: the session's application. */
  client_id: string;
  /** SPEC §11: how the user authenticated; absent only on tokens that predate it. */
  auth_time?: number;
  amr?: string[];
  acr?: string;
  /** And the custom claims, at the top level (RFC 7662 §2.2). */
  [claim: string]: unknown;
}

export type IntrospectionResult = typeof INACTIVE | ActiveToken;

export interface IntrospectionDeps {
  verifier: AccessTokenVerifier;
  owners: SessionOwners;
  revocations: RevocationCheck;
  sessions: SessionStore;
  users: UserStore;
  clock: Clock;
  issuer: string;
}

const seconds = (d: Date) => Math.floor(d.getTime() / 1000);

/**
 * POST /introspect (RFC 7662, SPEC §5). Access tokens: signature and claims,
 * then revocation through the layered check (no database read when the
 * mirror or Redis answers). Refresh tokens: active while unrotated,
 * unexpired and of a live session.
 */
export class IntrospectionService {
  constructor(private readonly deps: IntrospectionDeps) {}

  /**
   * `via` is where the caller found the token (SPEC §3 transport binding);
   * the hint only orders the lookups (RFC 7662 §2.1), the token's shape decides.
   */
  async introspect(token: string, opts: { via?: PresentedVia } = {}): Promise<IntrospectionResult> {
    const result = looksLikeOpaqueToken(token) ? await this.refreshToken(token) : await this.accessToken(token);
    if (result.active && opts.via !== undefined && result.trn !== transportOf(opts.via)) return INACTIVE;
    return result;
  }

  /**
   * The claims of a live access token, or null: verified (signature, claims,
   * expiry) and not revoked by the layered check. Throws only when no layer
   * can decide, so callers fail closed. Forward authentication asks this too.
   */
  async liveAccessClaims(token: string): Promise<AccessTokenClaims | null> {
    let claims;
    try {
      claims = await this.deps.verifier.verify(token);
    } catch (err) {
      if (err instanceof AppError && err.code === "invalid_token") return null;
      throw err;
    }
    if (await this.deps.revocations.isRevoked(claims)) return null;
    // The same rule as the Postgres path: the token's subject owns its session.
    return (await this.deps.owners.owns(claims.sub, claims.sid)) ? claims : null;
  }

  private async accessToken(token: string): Promise<IntrospectionResult> {
    const claims = await this.liveAccessClaims(token);
    if (!claims) return INACTIVE;
    return {
      ...customClaimsOf(claims),
      ...(claims.auth_time === undefined ? {} : { auth_time: claims.auth_time }),
      ...(claims.amr === undefined ? {} : { amr: claims.amr }),
      ...(claims.acr === undefined ? {} : { acr: claims.acr }),
      active: true,
      sub: claims.sub,
      sid: claims.sid,
      exp: claims.exp,
      iat: claims.iat,
      iss: claims.iss,
      aud: claims.aud,
      jti: claims.jti,
      token_type: "access_token",
      trn: claims.trn,
      // Tokens minted before applications name none: their sessions are the default application's.
      client_id: claims.client_id ?? DEFAULT_APPLICATION_ID,
    };
  }

  /** A refresh token's answer carries its session's authentication and current claims, like its next access token. */
  private identityOfSession(session: SessionRecord) {
    const { authTime, amr, acr } = session.authentication;
    return { ...session.claims, auth_time: seconds(authTime), amr, ...(acr ? { acr } : {}) };
  }

  private async refreshToken(token: string): Promise<IntrospectionResult> {
    const { sessions, users, clock, issuer } = this.deps;
    const record = await sessions.findRefreshTokenByHash(hashToken(token));
    const now = clock.now();
    // Rotated tokens are spent, even inside the reuse grace window.
    if (!record || record.rotatedAt !== null || record.expiresAt <= now) return INACTIVE;
    const session = await sessions.findSession(record.sessionId);
    if (!session || sessionState(session, now) !== "live") return INACTIVE;
    const user = await users.findById(session.userId);
    if (!user || user.disabled) return INACTIVE;
    const expiresAt = record.expiresAt < session.absoluteExpiresAt ? record.expiresAt : session.absoluteExpiresAt;
    return {
      active: true,
      sub: session.userId,
      sid: session.id,
      exp: seconds(expiresAt),
      iat: seconds(record.createdAt),
      iss: issuer,
      // A refresh token is redeemable only at its issuer.
      aud: issuer,
      jti: record.id,
      token_type: "refresh_token",
      trn: session.transport,
      client_id: session.clientId,
      ...this.identityOfSession(session),
    };
  }
}
