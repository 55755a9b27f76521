-- Webhooks (SPEC §14). Deliveries are an outbox filled by a trigger on
-- audit_events: every statement that writes a security event (the rotation
-- statement, the issuance function, Prisma transactions) enqueues its
-- deliveries in its own transaction without knowing about webhooks, so no
-- event can be audited without being deliverable, and none is delivered
-- for a transaction that rolled back.

-- CreateTable
CREATE TABLE "webhook_subscriptions" (
    "id" UUID NOT NULL,
    "url" VARCHAR(2048) NOT NULL,
    "events" VARCHAR(48)[],
    "secret_sealed" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "created_by" VARCHAR(128) NOT NULL,

    CONSTRAINT "webhook_subscriptions_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "webhook_deliveries" (
    "id" UUID NOT NULL,
    "subscription_id" UUID NOT NULL,
    "event_id" BIGINT NOT NULL,
    "type" VARCHAR(48) NOT NULL,
    "payload" JSONB NOT NULL,
    "status" VARCHAR(16) NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL,
    "next_attempt_at" TIMESTAMPTZ(3) NOT NULL,
    "claimed_until" TIMESTAMPTZ(3),
    "last_attempt_at" TIMESTAMPTZ(3),
    "last_status" INTEGER,
    "last_error" VARCHAR(256),
    "delivered_at" TIMESTAMPTZ(3),

    CONSTRAINT "webhook_deliveries_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "webhook_deliveries_due_idx" ON "webhook_deliveries"("next_attempt_at") WHERE status = 'pending';

-- Retention's index: finished deliveries by age.
CREATE INDEX "webhook_deliveries_finished_idx" ON "webhook_deliveries"("created_at") WHERE status <> 'pending';

-- CreateIndex
CREATE INDEX "webhook_deliveries_subscription_idx" ON "webhook_deliveries"("subscription_id", "created_at");

-- AddForeignKey
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_subscription_id_fkey" FOREIGN KEY ("subscription_id") REFERENCES "webhook_subscriptions"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Which audit events are which webhook events (src/domain/webhook-events.ts
-- lists the same names; test/integration/webhooks.test.ts checks they agree).
CREATE FUNCTION "sa_webhook_event"(audit_type VARCHAR) RETURNS VARCHAR LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE audit_type
        WHEN 'login_success' THEN 'session.created'
        WHEN 'session_issued' THEN 'session.created'
        WHEN 'session_revoked' THEN 'session.revoked'
        WHEN 'user_sessions_revoked' THEN 'session.revoked'
        WHEN 'session_evicted' THEN 'session.evicted'
        WHEN 'refresh_reuse_detected' THEN 'refresh.reuse_detected'
        WHEN 'device_change' THEN 'device.changed'
        WHEN 'rate_limited' THEN 'user.rate_limited'
        WHEN 'user_claims_changed' THEN 'user.claims_changed'
        WHEN 'key_rotated' THEN 'key.rotated'
        WHEN 'key_revoked' THEN 'key.revoked'
    END
$$;

-- The delivery's body is fixed here, at the event: { id, type, timestamp, data }.
CREATE FUNCTION "sa_enqueue_webhooks"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    ev VARCHAR := sa_webhook_event(NEW.type);
    base JSONB;
    s RECORD;
    sid TEXT;
    payloads JSONB[] := '{}';
BEGIN
    IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions WHERE ev = ANY(events)) THEN
        RETURN NULL;
    END IF;
    base := NEW.detail || jsonb_build_object('user_id', NEW.user_id, 'session_id', NEW.session_id, 'actor', NEW.actor, 'ip', NEW.ip);
    IF ev = 'session.created' THEN
        SELECT transport, ua_browser, ua_os, ua_device INTO s FROM sessions WHERE id = NEW.session_id;
        base := base || jsonb_build_object(
            'transport', s.transport,
            'user_agent', NEW.user_agent,
            'device', jsonb_build_object('browser', s.ua_browser, 'os', s.ua_os, 'type', s.ua_device),
            -- New for the user: no other session of theirs, kept or ended, had this browser, OS and device type.
            'new_device', NOT EXISTS (
                SELECT 1 FROM sessions o
                WHERE o.user_id = NEW.user_id AND o.id <> NEW.session_id
                  AND o.ua_browser IS NOT DISTINCT FROM s.ua_browser AND o.ua_os IS NOT DISTINCT FROM s.ua_os
                  AND o.ua_device IS NOT DISTINCT FROM s.ua_device));
    END IF;
    IF NEW.type = 'user_sessions_revoked' THEN
        -- One event per session, like a single revocation.
        FOR sid IN SELECT jsonb_array_elements_text(COALESCE(NEW.detail->'sessions', '[]'::jsonb)) LOOP
            payloads := payloads || ((base - 'sessions') || jsonb_build_object('session_id', sid));
        END LOOP;
    ELSE
        payloads := ARRAY[base];
    END IF;
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, type, payload, created_at, next_attempt_at)
    SELECT d.id, w.id, NEW.id, ev,
           jsonb_build_object('id', d.id, 'type', ev,
                              'timestamp', to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                              'data', p),
           NEW.at, NEW.at
    FROM webhook_subscriptions w, unnest(payloads) AS p, LATERAL (SELECT gen_random_uuid() AS id) d
    WHERE ev = ANY(w.events);
    RETURN NULL;
END;
$$;

-- Only the types above call the function: a refresh pays for the WHEN test alone.
CREATE TRIGGER "audit_events_enqueue_webhooks" AFTER INSERT ON "audit_events"
    FOR EACH ROW WHEN (sa_webhook_event(NEW.type) IS NOT NULL) EXECUTE FUNCTION "sa_enqueue_webhooks"();
