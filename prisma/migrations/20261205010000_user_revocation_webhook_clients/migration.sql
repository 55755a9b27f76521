-- A user-wide revocation's per-session webhook events name each session's
-- application (SPEC §10: client_id in webhook payloads), as a single
-- revocation's do. The audit row lists the applications beside the sessions.
-- And each of those events gets its own delivery id (see below).
-- The delivery's body is fixed here, at the event: { id, type, timestamp, data }.
CREATE OR REPLACE FUNCTION "sa_enqueue_webhooks"() RETURNS TRIGGER LANGUAGE plpgsql AS $$
DECLARE
    ev VARCHAR := sa_webhook_event(NEW.type);
    base JSONB;
    s RECORD;
    sid TEXT;
    cid TEXT;
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
        -- client_ids lists each session's application, in the order of sessions (absent on older rows).
        FOR sid, cid IN
            SELECT listed.session_id, apps.client_id
            FROM jsonb_array_elements_text(COALESCE(NEW.detail->'sessions', '[]'::jsonb)) WITH ORDINALITY AS listed(session_id, n)
            LEFT JOIN jsonb_array_elements_text(COALESCE(NEW.detail->'client_ids', '[]'::jsonb)) WITH ORDINALITY AS apps(client_id, n)
                ON apps.n = listed.n
        LOOP
            payloads := payloads || ((base - 'sessions' - 'client_ids') || jsonb_build_object('session_id', sid)
                                     || CASE WHEN cid IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('client_id', cid) END);
        END LOOP;
    ELSE
        payloads := ARRAY[base];
    END IF;
    -- The id is drawn in the select list, once per row: an uncorrelated
    -- LATERAL subquery is evaluated once, so every payload of a user-wide
    -- revocation got the same id and the second insert failed.
    INSERT INTO webhook_deliveries (id, subscription_id, event_id, type, payload, created_at, next_attempt_at)
    SELECT d.id, d.subscription_id, NEW.id, ev,
           jsonb_build_object('id', d.id, 'type', ev,
                              'timestamp', to_char(NEW.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                              'data', d.p),
           NEW.at, NEW.at
    FROM (SELECT gen_random_uuid() AS id, w.id AS subscription_id, p
          FROM webhook_subscriptions w, unnest(payloads) AS p
          WHERE ev = ANY(w.events)) AS d;
    RETURN NULL;
END;
$$;
