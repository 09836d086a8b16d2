-- Refresh tokens belong to a family (one sign-in and every refresh after it). A used token stays,
-- marked, until it expires: presenting it again means it was stolen or replayed, and the whole
-- family is revoked.
-- Kept column-for-column equal in migrations/sqlite and migrations/postgres.
ALTER TABLE refresh_tokens ADD COLUMN family TEXT NOT NULL DEFAULT '';
ALTER TABLE refresh_tokens ADD COLUMN used_at BIGINT;
CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
