-- Issuance in one round trip (src/storage/prisma/issue-sql.ts): the user's
-- row lock, the count of the user's live sessions under that lock, and the
-- session, its first refresh token and its audit row, in one autocommit
-- call instead of a transaction of four round trips.
--
-- The count must see every session of the user committed before this call
-- got the lock. In READ COMMITTED, a VOLATILE function takes a new snapshot
-- for each statement it runs, so the count, a statement after the lock,
-- sees them; this is why the lock and the count cannot be one statement.
--
-- Answers one row: whether the user exists, whether it is disabled, its
-- not_before, and whether the session was inserted (false at the cap, or
-- for a missing or disabled user, with nothing written).
CREATE FUNCTION "sa_issue_session"(
    p_now TIMESTAMPTZ, p_max_live INTEGER,
    p_session_id UUID, p_user_id UUID, p_transport VARCHAR, p_created_at TIMESTAMPTZ, p_last_seen_at TIMESTAMPTZ,
    p_idle_expires_at TIMESTAMPTZ, p_absolute_expires_at TIMESTAMPTZ, p_access_expires_at TIMESTAMPTZ,
    p_created_ip VARCHAR, p_last_ip VARCHAR, p_user_agent VARCHAR, p_ua_browser VARCHAR, p_ua_os VARCHAR, p_ua_device VARCHAR,
    p_device_flagged BOOLEAN, p_device_score INTEGER,
    p_token_id UUID, p_token_hash BYTEA, p_token_created_at TIMESTAMPTZ, p_token_expires_at TIMESTAMPTZ,
    p_token_ip VARCHAR, p_token_user_agent VARCHAR,
    p_audit_type VARCHAR, p_audit_actor VARCHAR, p_audit_ip VARCHAR, p_audit_user_agent VARCHAR, p_audit_detail JSONB
) RETURNS TABLE (found BOOLEAN, disabled BOOLEAN, not_before TIMESTAMPTZ, inserted BOOLEAN)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    u RECORD;
    live INTEGER;
BEGIN
    SELECT users.disabled, users.not_before INTO u FROM users WHERE users.id = p_user_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN QUERY SELECT false, false, NULL::TIMESTAMPTZ, false;
        RETURN;
    END IF;
    IF u.disabled THEN
        RETURN QUERY SELECT true, true, u.not_before, false;
        RETURN;
    END IF;
    -- Counting stops at the cap; the ORDER BY matches sessions_user_live_idx.
    SELECT count(*) INTO live FROM (
        SELECT 1 FROM sessions
        WHERE sessions.user_id = p_user_id AND sessions.revoked_at IS NULL
          AND sessions.idle_expires_at > p_now AND sessions.absolute_expires_at > p_now
        ORDER BY sessions.created_at
        LIMIT p_max_live
    ) AS counted;
    IF live >= p_max_live THEN
        RETURN QUERY SELECT true, false, u.not_before, false;
        RETURN;
    END IF;
    INSERT INTO sessions (id, user_id, transport, created_at, last_seen_at, idle_expires_at, absolute_expires_at,
                          access_expires_at, created_ip, last_ip, user_agent, ua_browser, ua_os, ua_device,
                          device_flagged, device_score)
    VALUES (p_session_id, p_user_id, p_transport, p_created_at, p_last_seen_at, p_idle_expires_at, p_absolute_expires_at,
            p_access_expires_at, p_created_ip, p_last_ip, p_user_agent, p_ua_browser, p_ua_os, p_ua_device,
            p_device_flagged, p_device_score);
    INSERT INTO refresh_tokens (id, session_id, token_hash, parent_id, created_at, expires_at, ip, user_agent)
    VALUES (p_token_id, p_session_id, p_token_hash, NULL, p_token_created_at, p_token_expires_at, p_token_ip, p_token_user_agent);
    INSERT INTO audit_events (at, type, actor, user_id, session_id, ip, user_agent, detail)
    VALUES (p_now, p_audit_type, p_audit_actor, p_user_id, p_session_id, p_audit_ip, p_audit_user_agent, p_audit_detail);
    RETURN QUERY SELECT true, false, u.not_before, true;
END;
$$;
