import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import { reportView } from "../../domain/application-service.js";
import { type Application, POLICY_FIELDS } from "../../domain/applications.js";
import type { Services } from "../../services.js";
import { errorResponses, TransportField } from "../schemas.js";
import type { App } from "../types.js";
import { applicationView } from "./admin-views.js";

const AppId = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64, pattern: "^[a-z0-9._-]+$" }) });

/** SPEC §9 durations: whole seconds or a number with a unit; null returns the field to the default. */
const Duration = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1, maxLength: 32 }), Type.Null()]);
const PolicyBody = Type.Object(
  Object.fromEntries(
    POLICY_FIELDS.map((f) => [
      f.wire,
      Type.Optional(
        f.kind === "duration"
          ? Duration
          : f.kind === "count"
            ? Type.Union([Type.Integer({ minimum: 1 }), Type.Null()])
            : Type.Union([...f.kind.map((k) => Type.Literal(k)), Type.Null()]),
      ),
    ]),
  ),
  { additionalProperties: false },
);

const Fields = {
  name: Type.String({ minLength: 1, maxLength: 128 }),
  transports: Type.Array(TransportField, { minItems: 1, maxItems: 2 }),
  origins: Type.Array(Type.String({ minLength: 1, maxLength: 512 }), { maxItems: 64 }),
  policy: PolicyBody,
};

const Report = Type.Object({
  sessions_ended: Type.Integer(),
  sessions_shortened: Type.Integer(),
  users_over_limit: Type.Integer(),
  sample: Type.Array(Type.String()),
});

/** Admin API: applications and their policies (SPEC §10), scope `admin`. */
export function registerAdminApplications(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");
  const actor = (req: { client?: { id: string } }) => `client:${req.client!.id}`;
  const apps = services.applicationService;
  const view = (a: Application) => applicationView(a, apps.resolved(a));

  app.post(
    "/admin/applications",
    {
      preValidation: guard,
      schema: {
        body: Type.Object(
          {
            id: Type.String({ minLength: 1, maxLength: 64 }),
            name: Fields.name,
            transports: Type.Optional(Fields.transports),
            origins: Type.Optional(Fields.origins),
            policy: Type.Optional(Fields.policy),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => reply.status(201).send(view(await apps.create(request.body, actor(request)))),
  );

  app.get("/admin/applications", { preValidation: guard }, async () => ({ applications: (await apps.list()).map(view) }));

  app.get("/admin/applications/:id", { preValidation: guard, schema: { params: AppId } }, async (request) =>
    view(await apps.get(request.params.id)),
  );

  app.patch(
    "/admin/applications/:id",
    {
      preValidation: guard,
      schema: {
        params: AppId,
        body: Type.Object(
          {
            name: Type.Optional(Fields.name),
            transports: Type.Optional(Fields.transports),
            origins: Type.Optional(Fields.origins),
            policy: Type.Optional(Fields.policy),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request) => {
      const { application, effect } = await apps.update(request.params.id, request.body, actor(request));
      return { ...view(application), ...(effect ? { policy_effect: reportView(effect) } : {}) };
    },
  );

  app.delete(
    "/admin/applications/:id",
    { preValidation: guard, schema: { params: AppId, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await apps.remove(request.params.id, actor(request));
      return reply.status(204).send(null);
    },
  );

  app.post(
    "/admin/applications/:id/policy/dry-run",
    {
      preValidation: guard,
      schema: {
        params: AppId,
        body: Type.Object({ policy: Fields.policy }, { additionalProperties: false }),
        response: { 200: Report, ...errorResponses },
      },
    },
    async (request) => reportView(await apps.dryRun(request.params.id, request.body.policy)),
  );
}
