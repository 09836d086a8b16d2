//! The lifecycle log of a single node in SQL (the cluster keeps it in JetStream instead).

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use crate::store::{EventFilter, EventLogStore, EventRow, StoreError};

#[async_trait]
impl EventLogStore for SqlStore {
    async fn append_events(&self, events: &[EventRow]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for e in events {
            sqlx::query(
                "INSERT INTO lifecycle_events (app_id, time, kind, socket_id, user_id, channel, body) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(&e.app_id)
            .bind(e.time)
            .bind(&e.kind)
            .bind(&e.socket_id)
            .bind(&e.user_id)
            .bind(&e.channel)
            .bind(&e.body)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn query_events(&self, app_id: &str, f: &EventFilter) -> Result<Vec<String>, StoreError> {
        let mut sql = String::from(
            "SELECT body FROM lifecycle_events WHERE app_id = $1 AND time >= $2 AND time <= $3 \
             AND ($4 = '' OR channel = $4) AND ($5 = '' OR socket_id = $5) AND ($6 = '' OR user_id = $6)",
        );
        if !f.kinds.is_empty() {
            let marks: Vec<String> = (0..f.kinds.len()).map(|i| format!("${}", i + 8)).collect();
            sql.push_str(&format!(" AND kind IN ({})", marks.join(", ")));
        }
        sql.push_str(" ORDER BY id DESC LIMIT $7");
        let mut query = sqlx::query(&sql)
            .bind(app_id)
            .bind(f.since)
            .bind(f.until)
            .bind(f.channel.as_deref().unwrap_or(""))
            .bind(f.socket_id.as_deref().unwrap_or(""))
            .bind(f.user_id.as_deref().unwrap_or(""))
            .bind(f.limit);
        for kind in &f.kinds {
            query = query.bind(kind);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter().map(|r| Ok(r.try_get::<String, _>("body")?)).collect()
    }

    async fn prune_events(&self, before: i64, keep_per_app: i64) -> Result<u64, StoreError> {
        let mut removed = sqlx::query("DELETE FROM lifecycle_events WHERE time < $1")
            .bind(before)
            .execute(&self.pool)
            .await?
            .rows_affected();
        let apps = sqlx::query("SELECT app_id FROM lifecycle_events GROUP BY app_id HAVING COUNT(*) > $1")
            .bind(keep_per_app)
            .fetch_all(&self.pool)
            .await?;
        for row in apps {
            let app_id: String = row.try_get("app_id")?;
            removed += sqlx::query(
                "DELETE FROM lifecycle_events WHERE app_id = $1 AND id <= \
                 (SELECT id FROM lifecycle_events WHERE app_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
            )
            .bind(&app_id)
            .bind(keep_per_app)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(removed)
    }
}
