-- Apps of the embedded store. Settings are one JSON document so that a new per-app setting with a
-- default needs no migration; credentials are columns because they are looked up and must be unique.
CREATE TABLE apps (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    key         TEXT NOT NULL UNIQUE,
    secret      TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at  TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
