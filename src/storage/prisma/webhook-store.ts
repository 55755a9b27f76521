import type { PrismaClient } from "../../generated/prisma/client.js";

export interface WebhookSubscriptionRecord {
  id: string;
  url: string;
  events: string[];
  secretSealed: Uint8Array;
  createdAt: Date;
  createdBy: string;
}

export interface WebhookDeliveryRecord {
  id: string;
  eventId: bigint;
  type: string;
  status: string;
  attempts: number;
  createdAt: Date;
  nextAttemptAt: Date;
  lastAttemptAt: Date | null;
  lastStatus: number | null;
  lastError: string | null;
  deliveredAt: Date | null;
}

/** A delivery one instance has claimed to send now. */
export interface ClaimedDelivery {
  id: string;
  payload: unknown;
  attempts: number;
  createdAt: Date;
  url: string;
  subscriptionId: string;
  secretSealed: Uint8Array;
}

export type AttemptOutcome =
  | { kind: "delivered"; status: number }
  | { kind: "retry"; status: number | null; error: string; at: Date }
  | { kind: "failed"; status: number | null; error: string };

/** Subscriptions and the delivery outbox (the trigger on audit_events fills it). */
export interface WebhookStore {
  create(s: WebhookSubscriptionRecord): Promise<void>;
  list(): Promise<WebhookSubscriptionRecord[]>;
  remove(id: string): Promise<boolean>;
  exists(id: string): Promise<boolean>;
  deliveries(subscriptionId: string, limit: number): Promise<WebhookDeliveryRecord[]>;
  /**
   * Claims up to `limit` due deliveries until `claimUntil`, counting the
   * attempt. SKIP LOCKED: instances claiming at once take disjoint rows.
   */
  claimDue(now: Date, claimUntil: Date, limit: number): Promise<ClaimedDelivery[]>;
  record(id: string, now: Date, outcome: AttemptOutcome): Promise<void>;
}

export function createPrismaWebhookStore(prisma: PrismaClient): WebhookStore {
  return {
    async create(s) {
      await prisma.webhookSubscription.create({ data: { ...s, secretSealed: s.secretSealed as Uint8Array<ArrayBuffer> } });
    },
    list() {
      return prisma.webhookSubscription.findMany({ orderBy: { createdAt: "asc" } });
    },
    async remove(id) {
      return (await prisma.webhookSubscription.deleteMany({ where: { id } })).count === 1;
    },
    async exists(id) {
      return (await prisma.webhookSubscription.count({ where: { id } })) === 1;
    },
    deliveries(subscriptionId, limit) {
      return prisma.webhookDelivery.findMany({
        where: { subscriptionId },
        orderBy: [{ createdAt: "desc" }, { eventId: "desc" }],
        take: limit,
        omit: { payload: true, subscriptionId: true, claimedUntil: true },
      });
    },
    async claimDue(now, claimUntil, limit) {
      const rows = await prisma.$queryRaw<
        Array<{
          id: string;
          payload: unknown;
          attempts: number;
          created_at: Date;
          url: string;
          subscription_id: string;
          secret_sealed: Uint8Array;
        }>
      >`
        WITH due AS (
          SELECT id FROM webhook_deliveries
          WHERE status = 'pending' AND next_attempt_at <= ${now}::timestamptz
            AND (claimed_until IS NULL OR claimed_until <= ${now}::timestamptz)
          ORDER BY next_attempt_at
          LIMIT ${limit}
          FOR UPDATE SKIP LOCKED
        )
        UPDATE webhook_deliveries AS d
        SET claimed_until = ${claimUntil}::timestamptz, attempts = d.attempts + 1, last_attempt_at = ${now}::timestamptz
        FROM due, webhook_subscriptions AS s
        WHERE d.id = due.id AND s.id = d.subscription_id
        RETURNING d.id::text, d.payload, d.attempts, d.created_at, s.url, s.id::text AS subscription_id, s.secret_sealed`;
      return rows.map((r) => ({
        id: r.id,
        payload: r.payload,
        attempts: r.attempts,
        createdAt: r.created_at,
        url: r.url,
        subscriptionId: r.subscription_id,
        secretSealed: r.secret_sealed,
      }));
    },
    async record(id, now, o) {
      const common = { claimedUntil: null, lastStatus: o.status };
      const data =
        o.kind === "delivered"
          ? { ...common, status: "delivered", deliveredAt: now, lastError: null }
          : o.kind === "retry"
            ? { ...common, nextAttemptAt: o.at, lastError: o.error.slice(0, 256) }
            : { ...common, status: "failed", lastError: o.error.slice(0, 256) };
      await prisma.webhookDelivery.update({ where: { id }, data });
    },
  };
}
