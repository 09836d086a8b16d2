//! The audit log in SQL.

use async_trait::async_trait;
use sqlx::Row;

use super::{audit, SqlStore};
use crate::store::{Actor, AuditEntry, AuditStore, StoreError};

#[async_trait]
impl AuditStore for SqlStore {
    async fn record(
        &self,
        tenant_id: Option<&str>,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut tx = self.write_tx().await?;
        audit(&mut tx, tenant_id, actor, action, target, detail).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM audit_log WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn audit_log(&self, tenant_id: &str, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, actor, action, target, detail, at FROM audit_log \
             WHERE tenant_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(tenant_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit.clamp(1, 500))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let detail: String = row.try_get("detail")?;
                Ok(AuditEntry {
                    id: row.try_get("id")?,
                    tenant_id: row.try_get::<Option<String>, _>("tenant_id")?,
                    actor: row.try_get("actor")?,
                    action: row.try_get("action")?,
                    target: row.try_get("target")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                    at: row.try_get("at")?,
                })
            })
            .collect()
    }
}
