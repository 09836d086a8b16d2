-- Per-app figures in one-minute buckets, one row per node and minute, summed over nodes when read
-- (the console's charts: connections, messages in and out). Pruned by age.
-- Kept column-for-column equal in migrations/sqlite and migrations/postgres.
CREATE TABLE app_stats (
    app_id        TEXT NOT NULL REFERENCES apps (id) ON DELETE CASCADE,
    bucket        BIGINT NOT NULL,                 -- Unix ms, the start of the minute
    node          TEXT NOT NULL,
    connections   BIGINT NOT NULL,                 -- the node's peak during the minute
    messages_in   BIGINT NOT NULL,                 -- accepted during the minute
    messages_out  BIGINT NOT NULL,                 -- delivered during the minute
    PRIMARY KEY (app_id, bucket, node)
);
CREATE INDEX app_stats_bucket ON app_stats (bucket);
