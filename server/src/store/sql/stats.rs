//! Per-app figures by the minute (`app_stats`): each node writes its row for a minute once the
//! minute is over; reads sum the nodes' rows of each minute.

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use crate::store::{StatsRow, StatsStore, StoreError};

#[async_trait]
impl StatsStore for SqlStore {
    async fn record_stats(&self, rows: &[StatsRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for r in rows {
            // A row written twice (a retried write) keeps the first; an app deleted meanwhile has none.
            sqlx::query(
                "INSERT INTO app_stats (app_id, bucket, node, connections, messages_in, messages_out) \
                 SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM apps WHERE id = $1) \
                 ON CONFLICT (app_id, bucket, node) DO NOTHING",
            )
            .bind(&r.app_id)
            .bind(r.bucket)
            .bind(&r.node)
            .bind(r.connections)
            .bind(r.messages_in)
            .bind(r.messages_out)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn stats(&self, app_id: &str, since: i64, until: i64) -> Result<Vec<StatsRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT bucket, SUM(connections) AS connections, SUM(messages_in) AS messages_in, \
             SUM(messages_out) AS messages_out FROM app_stats \
             WHERE app_id = $1 AND bucket >= $2 AND bucket < $3 GROUP BY bucket ORDER BY bucket",
        )
        .bind(app_id)
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StatsRow {
                    app_id: app_id.to_string(),
                    bucket: row.try_get("bucket")?,
                    node: String::new(),
                    connections: row.try_get("connections")?,
                    messages_in: row.try_get("messages_in")?,
                    messages_out: row.try_get("messages_out")?,
                })
            })
            .collect()
    }

    async fn prune_stats(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM app_stats WHERE bucket < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }
}
