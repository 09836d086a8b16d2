//! The lifecycle log of a single node in SQL (the cluster keeps it in JetStream instead).

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::Row;

use super::SqlStore;
use crate::store::{EventFilter, EventLogStore, EventRow, StoreError};

/// Events one INSERT statement writes. One statement per row cost a round trip to the database (for
/// SQLite, to its worker thread) per event; many rows per statement cost SQLite a lookup of each
/// `$N` among all the statement's parameters. The statements stay prepared: there are at most this
/// many of them (by row count).
const ROWS_PER_INSERT: usize = 16;

/// The statement of a full chunk, the one nearly every write uses, built once.
static FULL_INSERT: LazyLock<String> = LazyLock::new(|| insert_sql(ROWS_PER_INSERT));

/// `INSERT … VALUES ($1, …, $7), ($8, …)` for `rows` events.
fn insert_sql(rows: usize) -> String {
    const COLUMNS: usize = 7;
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let marks: Vec<String> = (1..=COLUMNS).map(|c| format!("${}", row * COLUMNS + c)).collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO lifecycle_events (app_id, time, kind, socket_id, user_id, channel, body) VALUES {}",
        values.join(", ")
    )
}

#[async_trait]
impl EventLogStore for SqlStore {
    async fn append_events(&self, events: &[EventRow]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        for rows in events.chunks(ROWS_PER_INSERT) {
            let partial;
            let sql: &str = match rows.len() {
                ROWS_PER_INSERT => &FULL_INSERT,
                n => {
                    partial = insert_sql(n);
                    &partial
                }
            };
            let mut query = sqlx::query(sql);
            for e in rows {
                query = query
                    .bind(&e.app_id)
                    .bind(e.time)
                    .bind(&e.kind)
                    .bind(&e.socket_id)
                    .bind(&e.user_id)
                    .bind(&e.channel)
                    .bind(&e.body);
            }
            query.execute(&mut *tx).await?;
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

#[cfg(test)]
mod tests {
    use super::insert_sql;

    #[test]
    fn each_row_has_its_own_seven_placeholders() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO lifecycle_events (app_id, time, kind, socket_id, user_id, channel, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14)"
        );
    }
}
