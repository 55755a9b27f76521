import type { FastifyReply, FastifyRequest } from "fastify";
import type { ClientScope } from "../domain/client-ports.js";
import type { AuthenticatedClient, ClientService } from "../domain/client-service.js";
import type { Clock } from "../domain/clock.js";
import { AppError, forbidden, invalidClient, invalidRequest } from "../domain/errors.js";
import type { AuditLog } from "../domain/ports.js";
import { attemptKey, type AttemptLimiter } from "../rate-limit/attempt-limiter.js";
import type { RequestCeiling } from "../rate-limit/request-ceiling.js";
import { isStorable } from "../http/storable-input.js";
import { VerifiedBasicHeaders } from "./verified-basic.js";

declare module "fastify" {
  interface FastifyRequest {
    client?: AuthenticatedClient;
  }
}

const BASIC = /^Basic ([A-Za-z0-9+/]+={0,2})$/i;
const CHALLENGE = 'Basic realm="session-authority", charset="UTF-8"';
const MAX_SECRET = 512;

interface Credentials {
  id: string;
  secret: string;
  scheme: "basic" | "post";
}

/** RFC 6749 §2.3.1: id and secret are form-encoded before they go into the Basic header. */
function formDecode(s: string): string | null {
  // Generated ids and secrets (UUIDs, base64url) need no decoding: skip the work on the hot path.
  if (s.indexOf("%") === -1 && s.indexOf("+") === -1) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, " "));
  } catch {
    return null;
  }
}

/**
 * True when the body carries client_secret_post credentials (RFC 6749
 * §2.3.1). Where the body's `client_id` may name an application instead
 * (POST /sessions, SPEC §10), it is a credential only beside a secret.
 */
function bodyHasCredentials(body: unknown, applicationInBody: boolean): boolean {
  const b = (body ?? {}) as { client_id?: unknown; client_secret?: unknown };
  return b.client_secret !== undefined || (b.client_id !== undefined && !applicationInBody);
}

/**
 * The credentials a request carries: HTTP Basic (client_secret_basic) or
 * `client_id`/`client_secret` in the body (client_secret_post). Using both
 * is invalid_request (RFC 6749 §2.3: one method per request). Where the
 * body's `client_id` may name an application instead (POST /sessions,
 * SPEC §10), it is a credential only beside a `client_secret`.
 */
function credentialsOf(request: FastifyRequest, reply: FastifyReply, applicationInBody: boolean): Credentials | null {
  const header = request.headers.authorization;
  const body = (request.body ?? {}) as { client_id?: unknown; client_secret?: unknown };
  const inBody = bodyHasCredentials(body, applicationInBody);
  if (typeof header === "string" && header.length > 0) {
    if (inBody) throw invalidRequest("use one client authentication method: HTTP Basic or client_id/client_secret in the body, not both");
    const m = BASIC.exec(header);
    const decoded = m ? Buffer.from(m[1]!, "base64").toString("utf8") : "";
    const colon = decoded.indexOf(":");
    const id = colon > 0 ? formDecode(decoded.slice(0, colon)) : null;
    const secret = colon > 0 ? formDecode(decoded.slice(colon + 1)) : null;
    // A decoded id is looked up in Postgres: it must be storable (http/storable-input.ts).
    if (id === null || secret === null || !isStorable(id) || secret.length === 0 || secret.length > MAX_SECRET) {
      void reply.header("www-authenticate", CHALLENGE);
      throw invalidClient("the Authorization header must be HTTP Basic with the client id and secret");
    }
    return { id, secret, scheme: "basic" };
  }
  if (inBody) {
    if (typeof body.client_id !== "string" || typeof body.client_secret !== "string") {
      throw invalidRequest("client_id and client_secret go together");
    }
    return { id: body.client_id, secret: body.client_secret, scheme: "post" };
  }
  return null;
}

/** What the guard needs of the services. */
export interface ClientGuardDeps {
  clients: ClientService;
  attempts: AttemptLimiter;
  clientCeiling: RequestCeiling;
  auditLog: AuditLog;
  clock: Clock;
}

/**
 * preHandler for the service-facing API: authenticates the client and
 * requires `scope`. 401 invalid_client (with a Basic challenge when Basic
 * was used or nothing was sent, RFC 6749 §5.2); 403 forbidden without the
 * scope; 429 when failed authentications of this client id or IP are in
 * backoff (SPEC §6), or when the optional per-client ceiling is reached.
 */
export function clientGuard(deps: ClientGuardDeps, scope: ClientScope, opts: { applicationInBody?: boolean } = {}) {
  const verified = verifiedHeadersOf(deps.clients);
  const applicationInBody = opts.applicationInBody === true;
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const header = request.headers.authorization;
    // A Basic header that authenticated before decodes the same way: skip decoding and hashing it.
    const known = typeof header === "string" ? verified.get(header) : undefined;
    const credentials: Credentials | null =
      known !== undefined && !bodyHasCredentials(request.body, applicationInBody)
        ? { id: known.id, secret: known.secret, scheme: "basic" }
        : credentialsOf(request, reply, applicationInBody);
    if (!credentials) {
      void reply.header("www-authenticate", CHALLENGE);
      throw invalidClient("client authentication is required");
    }
    // A credential verified moments ago costs nothing to re-check; anything
    // else may run a slow hash, so it is subject to the backoff first.
    let client = deps.clients.cached(credentials.id, credentials.secret, known?.fingerprint);
    if (!client) {
      // Per client and address, never per client alone: a client id is no
      // secret, and strangers failing with it must not stop its holder.
      const pair = attemptKey.client(credentials.id.slice(0, 64), request.ip);
      const keys = [pair, attemptKey.clientIp(request.ip)];
      await deps.attempts.check(keys);
      try {
        client = await deps.clients.authenticate(credentials.id, credentials.secret);
        await deps.attempts.succeed([pair]);
      } catch (err) {
        if (credentials.scheme === "basic") void reply.header("www-authenticate", CHALLENGE);
        if (err instanceof AppError && err.code === "invalid_client") {
          if (typeof header === "string") verified.forget(header);
          const outcome = await deps.attempts.fail(keys);
          if (outcome.blocked.length > 0) {
            await deps.auditLog.record(
              {
                type: "rate_limited",
                actor: "anonymous",
                ip: request.ip,
                detail: { limit: "client_auth", keys: outcome.blocked, retry_after: outcome.retryAfterSeconds },
              },
              deps.clock.now(),
            );
          }
        }
        throw err;
      }
    }
    if (known === undefined && credentials.scheme === "basic") {
      verified.remember(header!, {
        id: credentials.id,
        secret: credentials.secret,
        fingerprint: deps.clients.fingerprintOf(credentials.secret),
      });
    }
    request.client = client;
    if (!client.scopes.includes(scope)) throw forbidden(`the client lacks the ${scope} scope`);
    await deps.clientCeiling.take(client.id);
  };
}

/** One memo of verified Basic headers per client service, shared by every guarded route. */
const verifiedHeaders = new WeakMap<ClientService, VerifiedBasicHeaders>();
function verifiedHeadersOf(clients: ClientService): VerifiedBasicHeaders {
  let memo = verifiedHeaders.get(clients);
  if (!memo) verifiedHeaders.set(clients, (memo = new VerifiedBasicHeaders()));
  return memo;
}
