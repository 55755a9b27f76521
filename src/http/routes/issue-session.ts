import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import type { IssuedTokens } from "../../domain/session-service.js";
import type { Services } from "../../services.js";
import { requestedApplication } from "../application-param.js";
import { errorResponses, TokenResponse, TransportField } from "../schemas.js";
import type { App } from "../types.js";
import { ClientCredentialFields } from "./client-credentials.js";

const IssueBody = Type.Object(
  {
    // Exactly one of the two (SPEC §11): a local user's id, or the upstream's stable id for an external user.
    subject: Type.Optional(Type.String({ format: "uuid" })),
    external_subject: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    transport: Type.Optional(TransportField),
    // How the upstream authenticated the user (SPEC §11): RFC 8176 method values, acr, Unix seconds.
    amr: Type.Optional(Type.Array(Type.String({ pattern: "^[A-Za-z0-9_.:-]{1,32}$" }), { minItems: 1, maxItems: 16 })),
    acr: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
    auth_time: Type.Optional(Type.Integer({ minimum: 1, maximum: 253402300799 })),
    // The session's own custom claims; validated by the domain (reserved names, size).
    claims: Type.Optional(Type.Object({}, { additionalProperties: true, maxProperties: 256 })),
    // What the upstream service saw of the user's device, for the session listing and device-change scoring.
    user_agent: Type.Optional(Type.String({ maxLength: 512 })),
    ip: Type.Optional(Type.Union([Type.String({ format: "ipv4" }), Type.String({ format: "ipv6" })])),
    ...ClientCredentialFields,
  },
  { additionalProperties: false },
);

/**
 * Both transports answer with the tokens in the body and set no cookies:
 * the answer goes to the upstream service, not to the browser, and cookies
 * set here would land on the wrong origin. For a `cookie` session the
 * upstream puts them into the session authority's cookies itself; they stay
 * bound to the cookie transport either way.
 */
const issuedBody = (t: IssuedTokens) => ({
  access_token: t.accessToken,
  refresh_token: t.refreshToken,
  token_type: "Bearer" as const,
  expires_in: t.expiresIn,
  refresh_expires_in: t.refreshExpiresIn,
  session_id: t.sessionId,
  user_id: t.userId,
  ...(t.evictedSessionIds.length > 0 ? { evicted_session_ids: t.evictedSessionIds } : {}),
});

/**
 * POST /sessions (SPEC §5), scope `sessions:issue`: a session for a user an
 * upstream identity service authenticated. `client_id` names the session's
 * application (SPEC §10) when the caller authenticates with HTTP Basic; with
 * client_secret_post (a `client_secret` in the body) it is the caller's own
 * id (RFC 6749 §2.3.1) and the session belongs to `default`.
 */
export function registerIssueSession(app: App, services: Services): void {
  app.post(
    "/sessions",
    {
      schema: { body: IssueBody, response: { 200: TokenResponse, ...errorResponses } },
      preHandler: clientGuard(services, "sessions:issue", { applicationInBody: true }),
    },
    async (request, reply) => {
      const { subject, external_subject, transport = "bearer", user_agent, ip, client_id, client_secret } = request.body;
      const application = client_secret === undefined ? client_id : undefined;
      const clientId = await requestedApplication(services.applications, application, transport);
      const ctx = { ip: ip ?? null, userAgent: user_agent && user_agent.length > 0 ? user_agent : null };
      const { amr, acr, auth_time, claims } = request.body;
      const tokens = await services.delegatedIssuer.issue(
        { subject, externalSubject: external_subject, applicationId: clientId, transport, amr, acr, authTime: auth_time, claims },
        ctx,
        request.client!.id,
      );
      void reply.header("cache-control", "no-store");
      return issuedBody(tokens);
    },
  );
}
