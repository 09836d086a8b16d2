-- The durable webhook queue. Kept column-for-column equal to migrations/postgres/0002_webhooks.sql.
-- Times here are Unix milliseconds (retries start a second apart), unlike 0001's seconds.
--
-- A delivery is one signed POST of `body` to `url`. A node claims a due one by setting
-- `locked_until` (a lease, so no two nodes POST it at once and a crashed node's claim runs out),
-- records each attempt in webhook_attempts, and then marks it delivered, schedules the next attempt
-- (exponential backoff) or, after the last, marks it dead (the dead-letter list).
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id           TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    url              TEXT NOT NULL,
    body             TEXT NOT NULL,                -- the JSON sent, byte for byte what is signed
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts         BIGINT NOT NULL DEFAULT 0,    -- attempts made so far
    next_attempt_at  BIGINT NOT NULL,
    locked_until     BIGINT NOT NULL DEFAULT 0,    -- claimed by a node until then
    created_at       BIGINT NOT NULL,
    last_error       TEXT
);
-- Claiming reads the due pending deliveries in order; the admin API lists an app's, newest first.
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_app ON webhook_deliveries (app_id, id);

CREATE TABLE webhook_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    status_code  BIGINT,                           -- NULL when no response came (timeout, refused)
    latency_ms   BIGINT NOT NULL,
    error        TEXT                              -- NULL when the attempt succeeded
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
