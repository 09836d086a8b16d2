//! The lifecycle log of a single node in SQL (the cluster keeps it in JetStream instead).

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::{Any, Row, Transaction};

use super::{Backend, SqlStore};
use crate::store::{EventFilter, EventLogStore, EventRow, StoreError};

/// Rows per INSERT statement, largest first. A write takes as many of the largest chunk as fit, then
/// of the next, so a batch of any size takes few statements (one statement per row cost a round trip
/// to the database, for SQLite to its worker thread, per event), and only these four statements are
/// ever prepared.
const CHUNK_ROWS: [usize; 4] = [64, 16, 4, 1];

/// The INSERT of `CHUNK_ROWS[i]` rows, built once per backend.
fn insert_statement(backend: Backend, i: usize) -> &'static str {
    fn all(backend: Backend) -> Vec<String> {
        CHUNK_ROWS.iter().map(|&rows| insert_sql(rows, backend)).collect()
    }
    static SQLITE: LazyLock<Vec<String>> = LazyLock::new(|| all(Backend::Sqlite));
    static POSTGRES: LazyLock<Vec<String>> = LazyLock::new(|| all(Backend::Postgres));
    match backend {
        Backend::Sqlite => &SQLITE[i],
        Backend::Postgres => &POSTGRES[i],
    }
}

/// `INSERT … VALUES (…), (…)` for `rows` events. Postgres names each parameter (`$1, …, $7), ($8,
/// …`); SQLite gets `?`, taken in order: for a `$N` it looks the name up among all the statement's
/// parameters, once per parameter, which cost more than the rest of the bind.
fn insert_sql(rows: usize, backend: Backend) -> String {
    const COLUMNS: usize = 7;
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let marks: Vec<String> = (1..=COLUMNS)
                .map(|c| match backend {
                    Backend::Sqlite => "?".to_string(),
                    Backend::Postgres => format!("${}", row * COLUMNS + c),
                })
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO lifecycle_events (app_id, time, kind, socket_id, user_id, channel, body) VALUES {}",
        values.join(", ")
    )
}

/// Runs `sql`, an INSERT of `rows.len()` rows, in `tx`.
async fn insert_rows(
    tx: &mut Transaction<'static, Any>,
    sql: &'static str,
    rows: &[EventRow],
) -> Result<(), StoreError> {
    let mut query = sqlx::query(sql);
    for e in rows {
        query = query
            .bind(&e.app_id)
            .bind(e.time)
            .bind(e.kind)
            .bind(&e.socket_id)
            .bind(&e.user_id)
            .bind(&e.channel)
            .bind(&e.body);
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

#[async_trait]
impl EventLogStore for SqlStore {
    async fn append_events(&self, events: &[EventRow]) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        let mut rest = events;
        for (i, &size) in CHUNK_ROWS.iter().enumerate() {
            while rest.len() >= size {
                let (chunk, after) = rest.split_at(size);
                insert_rows(&mut tx, insert_statement(self.backend, i), chunk).await?;
                rest = after;
            }
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
    use super::{insert_sql, Backend};

    #[test]
    fn each_row_has_seven_placeholders_numbered_for_postgres_and_in_order_for_sqlite() {
        assert_eq!(
            insert_sql(2, Backend::Postgres),
            "INSERT INTO lifecycle_events (app_id, time, kind, socket_id, user_id, channel, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13, $14)"
        );
        assert_eq!(
            insert_sql(2, Backend::Sqlite),
            "INSERT INTO lifecycle_events (app_id, time, kind, socket_id, user_id, channel, body) \
             VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)"
        );
    }
}
