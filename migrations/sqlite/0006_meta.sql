-- Facts about the installation itself: the fingerprint of the master key the app secrets are sealed
-- with, so a node or CLI call with another key is refused at once, with a message saying what to set.
-- Kept column-for-column equal in migrations/sqlite and migrations/postgres.
CREATE TABLE herald_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
