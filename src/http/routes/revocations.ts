import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import { invalidRequest } from "../../domain/errors.js";
import { parseCursor } from "../../domain/revocation-cursor.js";
import type { StoredRevocation } from "../../domain/revocation-ports.js";
import type { Config } from "../../config.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";

const ceilSec = (d: Date) => Math.ceil(d.getTime() / 1000);

/** SPEC §4 wire form of an entry, times in epoch seconds. */
export function entryView(e: StoredRevocation) {
  if (e.kind === "sid") return { sid: e.subject, exp: ceilSec(e.expiresAt), ...(e.notBefore ? { not_before: ceilSec(e.notBefore) } : {}) };
  if (e.kind === "kid") return { kid: e.subject, exp: ceilSec(e.expiresAt) };
  return { sub: e.subject, exp: ceilSec(e.expiresAt), not_before: ceilSec(e.notBefore) };
}

/**
 * What the service requires of verifiers, in seconds, sent with every list
 * and heartbeat so a verifier can take it as its default (SPEC §4, §7): fail
 * closed after `max_staleness` without a sync (MAX_REVOCATION_STALENESS);
 * refuse a token living longer than `max_token_lifetime` (ACCESS_TOKEN_TTL).
 */
export interface VerifierBounds {
  max_staleness: number;
  max_token_lifetime: number;
}

export const verifierBounds = (config: Config): VerifierBounds => ({
  max_staleness: Math.max(1, Math.floor(config.revocation.maxStalenessMs / 1000)),
  max_token_lifetime: Math.ceil(config.tokens.accessTokenTtlMs / 1000),
});

export const listBody = (entries: readonly StoredRevocation[], cursor: bigint, bounds: VerifierBounds) => ({
  entries: entries.map(entryView),
  cursor: cursor.toString(),
  ...bounds,
});

/** `since` from the query (preferred) or Last-Event-ID; a malformed one is 400. */
export function sinceOf(query: string | undefined, lastEventId?: string | string[]): bigint | undefined {
  const text = query ?? (typeof lastEventId === "string" && lastEventId.length > 0 ? lastEventId : undefined);
  if (text === undefined) return undefined;
  const cursor = parseCursor(text);
  if (cursor === null) throw invalidRequest("since must be a cursor given out by this service");
  return cursor;
}

export const Entry = Type.Object({
  sid: Type.Optional(Type.String()),
  sub: Type.Optional(Type.String()),
  kid: Type.Optional(Type.String()),
  exp: Type.Integer(),
  not_before: Type.Optional(Type.Integer()),
});

export const SinceQuery = Type.Object({ since: Type.Optional(Type.String({ maxLength: 64 })) }, { additionalProperties: false });

/**
 * GET /revocations (SPEC §4), scope `revocations:read`: every live entry, or
 * with `?since=CURSOR` those after it. 410 for a cursor this list never gave.
 */
export function registerRevocations(app: App, services: Services): void {
  const bounds = verifierBounds(services.config);
  app.get(
    "/revocations",
    {
      schema: {
        querystring: SinceQuery,
        response: {
          200: Type.Object({
            entries: Type.Array(Entry),
            cursor: Type.String(),
            max_staleness: Type.Integer(),
            max_token_lifetime: Type.Integer(),
          }),
          410: errorResponses[404],
          ...errorResponses,
        },
      },
      preHandler: clientGuard(services, "revocations:read"),
    },
    async (request, reply) => {
      const page = await services.revocationListing.list(sinceOf(request.query.since));
      void reply.header("cache-control", "no-store");
      return listBody(page.entries, page.cursor, bounds);
    },
  );
}
