-- Key compromise (SPEC §14): a revoked key leaves the JWKS and signs no more
-- at once; a "kid" entry on the revocation list stops the tokens it signed.
ALTER TABLE "signing_keys" ADD COLUMN "revoked_at" TIMESTAMPTZ(3);
