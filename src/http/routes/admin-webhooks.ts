import { Type } from "typebox";
import { clientGuard } from "../../clients/client-auth.js";
import { WEBHOOK_EVENT_TYPES } from "../../domain/webhook-events.js";
import type { WebhookDeliveryRecord, WebhookSubscriptionRecord } from "../../storage/prisma/webhook-store.js";
import type { Services } from "../../services.js";
import { errorResponses } from "../schemas.js";
import type { App } from "../types.js";

const WebhookId = Type.Object({ id: Type.String({ format: "uuid" }) });
const iso = (d: Date | null) => d?.toISOString() ?? null;

const subscriptionView = (s: WebhookSubscriptionRecord) => ({
  id: s.id,
  url: s.url,
  events: s.events,
  created_at: s.createdAt.toISOString(),
});

const deliveryView = (d: WebhookDeliveryRecord) => ({
  id: d.id,
  event_id: d.eventId.toString(),
  type: d.type,
  status: d.status,
  attempts: d.attempts,
  created_at: d.createdAt.toISOString(),
  next_attempt_at: d.status === "pending" ? d.nextAttemptAt.toISOString() : null,
  last_attempt_at: iso(d.lastAttemptAt),
  last_status: d.lastStatus,
  last_error: d.lastError,
  delivered_at: iso(d.deliveredAt),
});

/** Admin API: webhook subscriptions and their deliveries (SPEC §14). */
export function registerAdminWebhooks(app: App, services: Services): void {
  const guard = clientGuard(services, "admin");

  app.post(
    "/admin/webhooks",
    {
      preValidation: guard,
      schema: {
        body: Type.Object(
          {
            url: Type.String({ minLength: 1, maxLength: 2048 }),
            events: Type.Array(Type.String({ enum: [...WEBHOOK_EVENT_TYPES] }), { minItems: 1, maxItems: WEBHOOK_EVENT_TYPES.length }),
          },
          { additionalProperties: false },
        ),
      },
    },
    async (request, reply) => {
      const { subscription, secret } = await services.webhooks.create(
        request.body.url,
        request.body.events,
        `client:${request.client!.id}`,
      );
      // The secret is shown once; only its sealed form is kept.
      return reply.status(201).send({ ...subscriptionView(subscription), secret });
    },
  );

  app.get("/admin/webhooks", { preValidation: guard }, async () => ({ webhooks: (await services.webhooks.list()).map(subscriptionView) }));

  app.delete(
    "/admin/webhooks/:id",
    { preValidation: guard, schema: { params: WebhookId, response: { 204: Type.Null(), ...errorResponses } } },
    async (request, reply) => {
      await services.webhooks.remove(request.params.id, `client:${request.client!.id}`);
      return reply.status(204).send(null);
    },
  );

  app.get(
    "/admin/webhooks/:id/deliveries",
    {
      preValidation: guard,
      schema: { params: WebhookId, querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: "^[0-9]{1,3}$" })) }) },
    },
    async (request) => {
      const limit = Math.min(500, Math.max(1, Number(request.query.limit ?? 100)));
      return { deliveries: (await services.webhooks.deliveries(request.params.id, limit)).map(deliveryView) };
    },
  );
}
