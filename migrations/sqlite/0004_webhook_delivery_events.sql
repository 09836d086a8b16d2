-- What each webhook delivery carries, one row per event of its batch, so the admin API can answer
-- "did my endpoint get member_removed for user Y on channel Z" without reading every body.
-- Kept column-for-column equal to migrations/postgres/0004_webhook_delivery_events.sql.
CREATE TABLE webhook_delivery_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  BIGINT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,                    -- channel_occupied, member_removed, …
    channel      TEXT NOT NULL,
    user_id      TEXT                              -- member events, and client events on presence channels
);
CREATE INDEX webhook_delivery_events_delivery ON webhook_delivery_events (delivery_id);
CREATE INDEX webhook_delivery_events_user ON webhook_delivery_events (user_id, delivery_id);
CREATE INDEX webhook_delivery_events_channel ON webhook_delivery_events (channel, delivery_id);
