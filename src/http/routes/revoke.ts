import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";
import { ClientCredentialFields } from "./client-credentials.js";

const RevokeBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 8192 }),
    token_type_hint: Type.Optional(Type.String({ maxLength: 64 })),
    ...ClientCredentialFields,
  },
  { additionalProperties: true },
);

/**
 * POST /revoke (RFC 7009, SPEC §5), scope `revoke`: ends the session of an
 * access or refresh token. 200 with an empty body, also for unknown tokens
 * (RFC 7009 §2.2).
 */
export function registerRevoke(app: App, services: Services): void {
  app.post(
    "/revoke",
    {
      // RFC 7009 §2.2: 200 with an empty body.
      schema: { body: RevokeBody, response: { 200: Type.Unknown(), ...errorResponses } },
      preHandler: clientGuard(services, "revoke"),
    },
    async (request, reply) => {
      await services.tokenRevocation.revoke(request.body.token, request.client!.id);
      return reply.status(200).send(undefined);
    },
  );
}
