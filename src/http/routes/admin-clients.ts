import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import { CLIENT_SCOPES } from "../../domain/client-ports.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";

const ClientId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9._~-]+$" }) });
const Scope = Type.Union(CLIENT_SCOPES.map((s) => Type.Literal(s)));

/** Admin API: service clients (SPEC §5). A secret is shown once, when created or rotated. */
export function registerAdminClients(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");
  const actor = (req: { client?: { id: string } }) => `client:${req.client!.id}`;

  app.post(
    "/admin/clients",
    {
      preValidation: guard,
      schema: {
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 128 }),
            scopes: Type.Array(Scope, { minItems: 1, maxItems: CLIENT_SCOPES.length }),
          },
          { additionalProperties: false },
        ),
        response: {
          201: Type.Object({
            client_id: Type.String(),
            client_secret: Type.String(),
            name: Type.String(),
            scopes: Type.Array(Type.String()),
          }),
          ...errorResponses,
        },
      },
    },
    async (request, reply) => {
      const { client, secret } = await services.clients.create(request.body.name, request.body.scopes, actor(request));
      void reply.header("cache-control", "no-store");
      return reply.status(201).send({ client_id: client.id, client_secret: secret, name: client.name, scopes: client.scopes });
    },
  );

  app.post(
    "/admin/clients/:id/secret",
    {
      preValidation: guard,
      schema: {
        params: ClientId,
        response: { 200: Type.Object({ client_id: Type.String(), client_secret: Type.String() }), ...errorResponses },
      },
    },
    async (request, reply) => {
      const { secret } = await services.clients.rotateSecret(request.params.id, actor(request));
      void reply.header("cache-control", "no-store");
      return { client_id: request.params.id, client_secret: secret };
    },
  );

  app.delete(
    "/admin/clients/:id",
    { preValidation: guard, schema: { params: ClientId, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await services.clients.remove(request.params.id, actor(request));
      return reply.status(204).send(null);
    },
  );
}
