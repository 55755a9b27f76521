// The lock that orders issuance against a policy change of one application.
// An issuance takes it shared, in its own statement, before it reads the
// application's policy; a policy change takes it exclusively for its whole
// transaction. So every session is issued either before the change (and the
// change's statements, which start after the lock is granted, see it) or
// after it (and reads the new policy): no session escapes a change.
// Advisory, so issuances of one application never contend on a row.

/** The advisory lock's class: "sa" + "ap", as a 32-bit key space of its own. */
const LOCK_CLASS = 0x73610001;

/** `$1` is the application id. */
export const LOCK_APPLICATION_SHARED = `SELECT pg_advisory_xact_lock_shared(${LOCK_CLASS}, hashtext($1::text))`;
export const LOCK_APPLICATION_EXCLUSIVE = `SELECT pg_advisory_xact_lock(${LOCK_CLASS}, hashtext($1::text))`;
