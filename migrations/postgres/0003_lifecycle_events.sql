-- The lifecycle log of a node without a cluster. Kept column-for-column equal to
-- migrations/sqlite/0003_lifecycle_events.sql. Times are Unix milliseconds.
--
-- One row per event (connection opened or closed, subscription, signin, publish, client event,
-- webhook attempt); `body` is the whole event as JSON, the other columns are what queries filter on.
-- Rows are removed by age and by a count per app (`event_log_max_age`, `event_log_max_events`).
-- No foreign key to apps: events are written in batches, and a batch must not fail because an app
-- was deleted meanwhile; a deleted app's events age out.
CREATE TABLE lifecycle_events (
    id         BIGSERIAL PRIMARY KEY,
    app_id     TEXT NOT NULL,
    time       BIGINT NOT NULL,
    kind       TEXT NOT NULL,
    socket_id  TEXT,
    user_id    TEXT,
    channel    TEXT,
    body       TEXT NOT NULL
);
-- Queries read one app's newest events first; pruning by age scans time.
CREATE INDEX lifecycle_events_app ON lifecycle_events (app_id, id);
CREATE INDEX lifecycle_events_time ON lifecycle_events (time);
