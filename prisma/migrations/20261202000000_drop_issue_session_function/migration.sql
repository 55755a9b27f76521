-- Issuance is written by the session repository (src/storage/sessions/) in
-- a short transaction like every other session write; the plpgsql function
-- that did it in one call is no longer called.
DROP FUNCTION IF EXISTS "sa_issue_session";
