import { randomUUID } from "node:crypto";
import { seal } from "../crypto/seal.js";
import type { Clock } from "../domain/clock.js";
import { invalidRequest, notFound } from "../domain/errors.js";
import type { AuditLog } from "../domain/ports.js";
import { isWebhookEventType, WEBHOOK_EVENT_TYPES } from "../domain/webhook-events.js";
import type { WebhookStore, WebhookSubscriptionRecord } from "../storage/prisma/webhook-store.js";
import { newWebhookSecret } from "./signature.js";

/** The sealed secret is bound to its subscription: it cannot be moved to another row. */
export const secretContext = (subscriptionId: string) => `webhook:${subscriptionId}`;

/** Webhook subscriptions (SPEC §14 admin API); each change is audited. */
export class WebhookService {
  constructor(private readonly deps: { store: WebhookStore; sealKey: Uint8Array; audit: AuditLog; clock: Clock }) {}

  /** Creates a subscription; the secret is returned here only. */
  async create(url: string, events: string[], actor: string): Promise<{ subscription: WebhookSubscriptionRecord; secret: string }> {
    url = checkedUrl(url);
    const unknown = events.filter((e) => !isWebhookEventType(e));
    if (unknown.length > 0) throw invalidRequest(`unknown event type; known: ${WEBHOOK_EVENT_TYPES.join(", ")}`);
    const now = this.deps.clock.now();
    const id = randomUUID();
    const secret = newWebhookSecret();
    const subscription = {
      id,
      url,
      events: [...new Set(events)],
      secretSealed: seal(this.deps.sealKey, Buffer.from(secret, "utf8"), secretContext(id)),
      createdAt: now,
      createdBy: actor,
    };
    await this.deps.store.create(subscription);
    await this.deps.audit.record({ type: "webhook_created", actor, detail: { webhook_id: id, url, events: subscription.events } }, now);
    return { subscription, secret };
  }

  list() {
    return this.deps.store.list();
  }

  async remove(id: string, actor: string): Promise<void> {
    if (!(await this.deps.store.remove(id))) throw notFound("no such webhook");
    await this.deps.audit.record({ type: "webhook_deleted", actor, detail: { webhook_id: id } }, this.deps.clock.now());
  }

  async deliveries(id: string, limit: number) {
    if (!(await this.deps.store.exists(id))) throw notFound("no such webhook");
    return this.deps.store.deliveries(id, limit);
  }
}

/**
 * http(s) only, without credentials; loopback and private addresses are
 * allowed (SPEC §14: siblings live there). Kept in the parser's normal form,
 * which percent-encodes what Postgres cannot store (NUL, lone surrogates).
 */
function checkedUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidRequest("url is not a URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidRequest("url must be http or https");
  if (url.username || url.password) throw invalidRequest("url must not carry credentials");
  if (url.href.length > 2048) throw invalidRequest("url is too long");
  return url.href;
}
