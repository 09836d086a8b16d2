//! The webhook queue in SQL: deliveries claimed under a lease, attempts, the dead-letter list.
//!
//! Claiming is one `UPDATE … WHERE id = (oldest due, unclaimed) AND locked_until < now`: on Postgres
//! two nodes racing for the same row both pick it, the second blocks on the first's row lock, then
//! re-checks `locked_until < now` against the row the first wrote, matches nothing and returns no
//! row. So a delivery is held by one node at a time, on SQLite and Postgres alike, without
//! `FOR UPDATE SKIP LOCKED` (which SQLite lacks).

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{missing, SqlStore};
use crate::store::{
    AfterAttempt, Attempt, ClaimedDelivery, Delivery, DeliveryFilter, DeliveryStatus, NewDelivery, StoreError,
    WebhookStore,
};

const DELIVERY_COLUMNS: &str = "id, app_id, url, body, status, next_attempt_at, created_at, last_error";

fn delivery_from_row(row: &AnyRow) -> Result<Delivery, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(Delivery {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        url: row.try_get("url")?,
        status: DeliveryStatus::parse(&status).unwrap_or(DeliveryStatus::Pending),
        body: row.try_get("body")?,
        created_at: row.try_get("created_at")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_error: row.try_get::<Option<String>, _>("last_error")?,
        attempts: Vec::new(),
    })
}

#[async_trait]
impl WebhookStore for SqlStore {
    async fn enqueue_webhook(&self, d: NewDelivery) -> Result<i64, StoreError> {
        let mut tx = self.write_tx().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO webhook_deliveries (app_id, url, body, status, attempts, next_attempt_at, locked_until, created_at) \
             VALUES ($1, $2, $3, 'pending', 0, $4, 0, $4) RETURNING id",
        )
        .bind(&d.app_id)
        .bind(&d.url)
        .bind(&d.body)
        .bind(d.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(missing("app"))?;
        if !d.events.is_empty() {
            // one statement for the batch: `($1, $2, $3, $4), ($5, …)`
            let rows = (0..d.events.len())
                .map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
                .collect::<Vec<_>>()
                .join(", ");
            let sql =
                format!("INSERT INTO webhook_delivery_events (delivery_id, name, channel, user_id) VALUES {rows}");
            let mut insert = sqlx::query(&sql);
            for e in &d.events {
                insert = insert
                    .bind(id)
                    .bind(e.name.as_str())
                    .bind(&e.channel)
                    .bind(e.user_id.as_deref());
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    async fn redeliver_webhook(&self, app_id: &str, id: i64, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $1, locked_until = 0 \
             WHERE id = $2 AND app_id = $3 AND locked_until < $1 \
               AND (status = 'dead' OR (status = 'pending' AND last_error IS NOT NULL))",
        )
        .bind(now)
        .bind(id)
        .bind(app_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_webhook(&self, now: i64, lease_until: i64) -> Result<Option<ClaimedDelivery>, StoreError> {
        let row = sqlx::query(
            "UPDATE webhook_deliveries SET locked_until = $2 \
             WHERE id = (SELECT id FROM webhook_deliveries \
                         WHERE status = 'pending' AND next_attempt_at <= $1 AND locked_until < $1 \
                         ORDER BY next_attempt_at, id LIMIT 1) \
               AND status = 'pending' AND locked_until < $1 \
             RETURNING id, app_id, url, body, attempts",
        )
        .bind(now)
        .bind(lease_until)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ClaimedDelivery {
                id: row.try_get("id")?,
                app_id: row.try_get("app_id")?,
                url: row.try_get("url")?,
                body: row.try_get("body")?,
                attempts: row.try_get("attempts")?,
            })
        })
        .transpose()
    }

    async fn record_webhook_attempt(&self, id: i64, attempt: Attempt, after: AfterAttempt) -> Result<(), StoreError> {
        let (status, next_attempt_at, last_error) = match after {
            AfterAttempt::Delivered => (DeliveryStatus::Delivered, attempt.at, None),
            AfterAttempt::RetryAt(at) => (DeliveryStatus::Pending, at, attempt.error.as_deref()),
            AfterAttempt::Dead => (DeliveryStatus::Dead, attempt.at, attempt.error.as_deref()),
        };
        let mut tx = self.write_tx().await?;
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_at = $2, \
             locked_until = 0, last_error = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(next_attempt_at)
        .bind(last_error)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        // Gone: its app was deleted while the request was in flight. Nothing to record.
        if done.rows_affected() == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, at, status_code, latency_ms, error) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(attempt.at)
        .bind(attempt.status_code)
        .bind(attempt.latency_ms)
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_webhook_deliveries(
        &self,
        app_id: &str,
        filter: &DeliveryFilter,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (sql, binds) = deliveries_query(app_id, filter);
        let mut query = sqlx::query(&sql);
        for bind in &binds {
            query = match bind {
                Bind::Text(text) => query.bind(text.as_str()),
                Bind::Int(n) => query.bind(*n),
            };
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut deliveries = rows.iter().map(delivery_from_row).collect::<Result<Vec<_>, _>>()?;
        if deliveries.is_empty() {
            return Ok(deliveries);
        }
        // The attempts of the deliveries read, in one query: `IN ($1, …, $n)`.
        let placeholders = (1..=deliveries.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT delivery_id, at, status_code, latency_ms, error FROM webhook_attempts \
             WHERE delivery_id IN ({placeholders}) ORDER BY id"
        );
        let mut query = sqlx::query(&sql);
        for d in &deliveries {
            query = query.bind(d.id);
        }
        let mut attempts: HashMap<i64, Vec<Attempt>> = HashMap::new();
        for row in query.fetch_all(&self.pool).await? {
            attempts.entry(row.try_get("delivery_id")?).or_default().push(Attempt {
                at: row.try_get("at")?,
                status_code: row.try_get::<Option<i64>, _>("status_code")?,
                latency_ms: row.try_get("latency_ms")?,
                error: row.try_get::<Option<String>, _>("error")?,
            });
        }
        for d in &mut deliveries {
            d.attempts = attempts.remove(&d.id).unwrap_or_default();
        }
        Ok(deliveries)
    }

    async fn pending_webhooks(&self) -> Result<i64, StoreError> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'")
            .fetch_one(&self.pool)
            .await?;
        Ok(count)
    }

    async fn prune_webhooks(&self, before: i64) -> Result<u64, StoreError> {
        let mut tx = self.write_tx().await?;
        for child in ["webhook_attempts", "webhook_delivery_events"] {
            sqlx::query(&format!(
                "DELETE FROM {child} WHERE delivery_id IN \
                 (SELECT id FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1)"
            ))
            .bind(before)
            .execute(&mut *tx)
            .await?;
        }
        let done = sqlx::query("DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1")
            .bind(before)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}

/// A value bound to a numbered placeholder of a query built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

/// The listing's `SELECT`, with a condition for each field the filter gives.
fn deliveries_query(app_id: &str, filter: &DeliveryFilter) -> (String, Vec<Bind>) {
    let mut binds = vec![Bind::Text(app_id.to_string())];
    let mut placeholder = |bind: Bind| {
        binds.push(bind);
        format!("${}", binds.len())
    };
    let mut conditions = vec!["app_id = $1".to_string()];
    if let Some(status) = filter.status {
        conditions.push(format!("status = {}", placeholder(Bind::Text(status.as_str().into()))));
    }
    if let Some(before) = filter.before {
        conditions.push(format!("id < {}", placeholder(Bind::Int(before))));
    }
    if filter.by_event() {
        let mut event = vec!["e.delivery_id = webhook_deliveries.id".to_string()];
        if let Some(name) = filter.event {
            event.push(format!("e.name = {}", placeholder(Bind::Text(name.as_str().into()))));
        }
        if let Some(channel) = &filter.channel {
            event.push(format!("e.channel = {}", placeholder(Bind::Text(channel.clone()))));
        }
        if let Some(user_id) = &filter.user_id {
            event.push(format!("e.user_id = {}", placeholder(Bind::Text(user_id.clone()))));
        }
        conditions.push(format!(
            "EXISTS (SELECT 1 FROM webhook_delivery_events e WHERE {})",
            event.join(" AND ")
        ));
    }
    let limit = placeholder(Bind::Int(filter.limit.clamp(1, 200)));
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE {} ORDER BY id DESC LIMIT {limit}",
        conditions.join(" AND ")
    );
    (sql, binds)
}
