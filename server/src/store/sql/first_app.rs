//! The default app of a first start, made once however many processes start together on one empty
//! store: the check ("no app, no tenant but the default one") and the creation run in one write
//! transaction that nobody else can run at the same time (SQLite's write lock; on Postgres a
//! transaction-scoped advisory lock), so the second process finds the app the first made.

use async_trait::async_trait;
use sqlx::Row;

use super::tenants::{insert_tenant, tenant_from_row, COLUMNS};
use super::write::AuditEntry;
use super::{Backend, SqlStore};
use crate::clock::unix_secs;
use crate::store::{Actor, AppStore, AppWithKeys, FirstAppStore, NewApp, StoreError, TenantLimits};

/// The advisory lock key of the first start (any constant, the same in every process).
const FIRST_START_LOCK: i64 = 0x6865_7261_6c64; // "herald"

#[async_trait]
impl FirstAppStore for SqlStore {
    async fn create_first_app(
        &self,
        tenant: (&str, &str),
        new: NewApp,
        actor: &Actor,
    ) -> Result<Option<AppWithKeys>, StoreError> {
        let (tenant_name, slug) = tenant;
        let mut tx = self.cached_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(FIRST_START_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        let apps: i64 = sqlx::query("SELECT COUNT(*) AS n FROM apps")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let others: i64 = sqlx::query("SELECT COUNT(*) AS n FROM tenants WHERE slug <> $1")
            .bind(slug)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if apps > 0 || others > 0 {
            return Ok(None); // not a first start: dropping the transaction ends it
        }
        let existing = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&mut *tx)
            .await?;
        let tenant_id = match existing {
            Some(row) => tenant_from_row(&row)?.id,
            None => {
                let id = uuid::Uuid::new_v4().to_string();
                insert_tenant(&mut tx, &id, tenant_name, slug, &TenantLimits::default()).await?;
                id
            }
        };
        let at = unix_secs();
        let (app, key) = new.into_parts(&tenant_id, at)?;
        self.insert_app(&mut tx, &app, &key, at).await?;
        tx.commit(AuditEntry {
            tenant_id: Some(&tenant_id),
            actor,
            action: "app.create",
            target: &app.id,
            detail: serde_json::json!({ "name": app.name, "key": key.key, "first_start": true }),
        })
        .await?;
        let keys = self.list_keys(&app.id).await?;
        Ok(Some(AppWithKeys { app, keys }))
    }
}
