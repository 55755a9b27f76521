import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";
import { ClientCredentialFields } from "./client-credentials.js";

const IntrospectBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 8192 }),
    // RFC 7662 §2.1: a hint the server may ignore; the token's shape decides here.
    token_type_hint: Type.Optional(Type.String({ maxLength: 64 })),
    // SPEC §3: where the caller found the token; a mismatch with `trn` is inactive.
    token_transport: Type.Optional(Type.Union([Type.Literal("header"), Type.Literal("cookie")])),
    ...ClientCredentialFields,
  },
  // RFC 7662 §2.1 lets callers send extension parameters; they are ignored.
  { additionalProperties: true },
);

const IntrospectResponse = Type.Object(
  {
    active: Type.Boolean(),
    sub: Type.Optional(Type.String()),
    sid: Type.Optional(Type.String()),
    exp: Type.Optional(Type.Integer()),
    iat: Type.Optional(Type.Integer()),
    iss: Type.Optional(Type.String()),
    aud: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())])),
    jti: Type.Optional(Type.String()),
    token_type: Type.Optional(Type.String()),
    trn: Type.Optional(Type.String()),
    client_id: Type.Optional(Type.String()),
    auth_time: Type.Optional(Type.Integer()),
    amr: Type.Optional(Type.Array(Type.String())),
    acr: Type.Optional(Type.String()),
    // SPEC §11: the custom claims, at the top level.
  },
  { additionalProperties: true },
);

/** POST /introspect (RFC 7662, SPEC §5), scope `introspect`; form-encoded or JSON. */
export function registerIntrospect(app: App, services: Services): void {
  app.post(
    "/introspect",
    {
      schema: { body: IntrospectBody, response: { 200: IntrospectResponse, ...errorResponses } },
      preHandler: clientGuard(services, "introspect"),
    },
    async (request, reply) => {
      const { token, token_transport } = request.body;
      void reply.header("cache-control", "no-store");
      const answer = await services.introspection.introspect(token, { via: token_transport });
      services.metrics.introspection(answer.active ? "active" : "inactive");
      return answer;
    },
  );
}
