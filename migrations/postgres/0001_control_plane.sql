-- The control plane on Postgres. Kept column-for-column equal to
-- migrations/sqlite/0001_control_plane.sql, so one set of portable SQL serves both.
-- Times are Unix seconds (BIGINT); ids are text (UUIDs or app ids chosen by the user).

CREATE TABLE tenants (
    id                    TEXT PRIMARY KEY NOT NULL,
    name                  TEXT NOT NULL,
    slug                  TEXT NOT NULL UNIQUE,
    status                TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    max_apps              BIGINT NOT NULL DEFAULT 0,     -- 0 = unlimited
    max_connections       BIGINT NOT NULL DEFAULT 0,     -- summed over the tenant's apps
    max_messages_per_day  BIGINT NOT NULL DEFAULT 0,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);

-- Per-app settings are one JSON document: a new setting with a default needs no migration.
CREATE TABLE apps (
    id          TEXT PRIMARY KEY NOT NULL,
    tenant_id   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX apps_tenant ON apps (tenant_id);

-- Secrets are needed to verify HMACs, so they are encrypted (AES-256-GCM, master key), not hashed.
CREATE TABLE app_keys (
    key           TEXT PRIMARY KEY NOT NULL,
    app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    secret_enc    TEXT NOT NULL,
    label         TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    expires_at    BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX app_keys_app ON app_keys (app_id);

CREATE TABLE admins (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    password_hash  TEXT NOT NULL,               -- argon2id PHC string
    role           TEXT NOT NULL CHECK (role IN ('owner', 'tenant_admin', 'tenant_viewer')),
    tenant_id      TEXT REFERENCES tenants (id) ON DELETE CASCADE,
    created_at     BIGINT NOT NULL,
    CHECK ((role = 'owner') = (tenant_id IS NULL))
);

-- Refresh tokens and API tokens are stored as SHA-256 hashes; the token itself is shown once.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    admin_id    TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('tenant_admin', 'tenant_viewer')),
    token_hash    TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);

CREATE TABLE audit_log (
    id         BIGSERIAL PRIMARY KEY,
    tenant_id  TEXT,                             -- NULL for platform-wide events
    actor      TEXT NOT NULL,                    -- "admin:<email>", "token:<name>", "cli", "system"
    action     TEXT NOT NULL,                    -- e.g. "app.create", "key.revoke", "login.failed"
    target     TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '{}',       -- JSON; never secrets or passwords
    at         BIGINT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);

-- Bumped by every write that nodes cache (tenants, apps, keys); nodes poll it to reload.
CREATE TABLE config_revision (
    id        BIGINT PRIMARY KEY CHECK (id = 1),
    revision  BIGINT NOT NULL
);
INSERT INTO config_revision (id, revision) VALUES (1, 1);
