/**
 * The webhook event types of SPEC §14. Which audit events produce them is
 * the SQL function sa_webhook_event (migration 20261202190100_webhooks);
 * test/integration/webhooks.test.ts checks the two lists agree.
 */
export const WEBHOOK_EVENT_TYPES = [
  "session.created",
  "session.revoked",
  "session.evicted",
  "refresh.reuse_detected",
  "device.changed",
  "user.rate_limited",
  "user.claims_changed",
  "key.rotated",
  "key.revoked",
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export const isWebhookEventType = (x: string): x is WebhookEventType => (WEBHOOK_EVENT_TYPES as readonly string[]).includes(x);
