//! Apps and their keys in SQL, and the snapshot nodes cache.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::tenants::tenant_from_row;
use super::write::AuditEntry;
use super::{opt_i64, unique, SqlStore};
use crate::clock::unix_secs;
use crate::store::app::check_name;
use crate::store::{
    Actor, App, AppKey, AppPatch, AppSettings, AppStore, AppWithKeys, NewApp, NewKey, Snapshot, StoreError, TenantStore,
};

const APP_COLUMNS: &str = "id, tenant_id, name, settings, created_at";
const KEY_COLUMNS: &str = "key, app_id, secret_enc, label, created_at, last_used_at, expires_at, revoked_at";

fn app_from_row(row: &AnyRow) -> Result<App, StoreError> {
    let settings: String = row.try_get("settings")?;
    Ok(App {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        name: row.try_get("name")?,
        settings: serde_json::from_str::<AppSettings>(&settings)?,
        created_at: row.try_get("created_at")?,
    })
}

impl SqlStore {
    fn key_from_row(&self, row: &AnyRow) -> Result<AppKey, StoreError> {
        let sealed: String = row.try_get("secret_enc")?;
        Ok(AppKey {
            key: row.try_get("key")?,
            app_id: row.try_get("app_id")?,
            secret: Some(self.secrets.open(&sealed)?),
            label: row.try_get("label")?,
            created_at: row.try_get("created_at")?,
            last_used_at: opt_i64(row, "last_used_at")?,
            expires_at: opt_i64(row, "expires_at")?,
            revoked_at: opt_i64(row, "revoked_at")?,
        })
    }

    /// Inserts `app` (of its tenant) with its first key, inside the caller's transaction.
    pub(super) async fn insert_app(
        &self,
        tx: &mut sqlx::AnyConnection,
        app: &App,
        key: &NewKey,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO apps (id, tenant_id, name, settings, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&app.id)
        .bind(&app.tenant_id)
        .bind(&app.name)
        .bind(serde_json::to_string(&app.settings)?)
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(unique("app id"))?;
        self.insert_key(tx, &app.id, key, at).await
    }

    async fn insert_key(
        &self,
        tx: &mut sqlx::AnyConnection,
        app_id: &str,
        new: &NewKey,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO app_keys (key, app_id, secret_enc, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&new.key)
            .bind(app_id)
            .bind(self.secrets.seal(&new.secret))
            .bind(&new.label)
            .bind(at)
            .bind(new.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(unique("key"))?;
        Ok(())
    }
}

#[async_trait]
impl AppStore for SqlStore {
    async fn create_app(&self, tenant_id: &str, new: NewApp, actor: &Actor) -> Result<AppWithKeys, StoreError> {
        let tenant = self.get_tenant(tenant_id).await?;
        let at = unix_secs();
        let (app, key) = new.into_parts(tenant_id, at)?;
        let mut tx = self.cached_write().await?;
        if tenant.limits.max_apps > 0 {
            let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM apps WHERE tenant_id = $1")
                .bind(tenant_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if count >= tenant.limits.max_apps {
                let msg = format!(
                    "tenant {} already has its maximum of {} apps",
                    tenant.slug, tenant.limits.max_apps
                );
                return Err(StoreError::Limit(msg));
            }
        }
        self.insert_app(&mut tx, &app, &key, at).await?;
        tx.commit(AuditEntry {
            tenant_id: Some(tenant_id),
            actor,
            action: "app.create",
            target: &app.id,
            detail: serde_json::json!({ "name": app.name, "key": key.key }),
        })
        .await?;
        let keys = self.list_keys(&app.id).await?;
        Ok(AppWithKeys { app, keys })
    }

    async fn list_apps(&self, tenant_id: Option<&str>) -> Result<Vec<App>, StoreError> {
        let rows = match tenant_id {
            Some(t) => {
                sqlx::query(&format!(
                    "SELECT {APP_COLUMNS} FROM apps WHERE tenant_id = $1 ORDER BY created_at, id"
                ))
                .bind(t)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps ORDER BY created_at, id"))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(app_from_row).collect()
    }

    async fn get_app(&self, id: &str) -> Result<App, StoreError> {
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("app"))?;
        app_from_row(&row)
    }

    async fn update_app(&self, id: &str, patch: AppPatch, actor: &Actor) -> Result<App, StoreError> {
        let mut tx = self.cached_write().await?;
        let row = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps WHERE id = $1"))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound("app"))?;
        let mut app = app_from_row(&row)?;
        if let Some(name) = &patch.name {
            app.name = check_name("name", name)?;
        }
        patch.settings.apply(&mut app.settings);
        sqlx::query("UPDATE apps SET name = $1, settings = $2, updated_at = $3 WHERE id = $4")
            .bind(&app.name)
            .bind(serde_json::to_string(&app.settings)?)
            .bind(unix_secs())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit(AuditEntry {
            tenant_id: Some(&app.tenant_id),
            actor,
            action: "app.update",
            target: id,
            detail: serde_json::json!({ "name": app.name, "settings": app.settings }),
        })
        .await?;
        Ok(app)
    }

    async fn delete_app(&self, id: &str, actor: &Actor) -> Result<(), StoreError> {
        let app = self.get_app(id).await?;
        let mut tx = self.cached_write().await?;
        sqlx::query("DELETE FROM apps WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit(AuditEntry {
            tenant_id: Some(&app.tenant_id),
            actor,
            action: "app.delete",
            target: id,
            detail: serde_json::json!({ "name": app.name }),
        })
        .await?;
        Ok(())
    }

    async fn create_key(&self, app_id: &str, new: NewKey, actor: &Actor) -> Result<AppKey, StoreError> {
        let app = self.get_app(app_id).await?;
        let mut tx = self.cached_write().await?;
        self.insert_key(&mut tx, app_id, &new, unix_secs()).await?;
        tx.commit(AuditEntry {
            tenant_id: Some(&app.tenant_id),
            actor,
            action: "key.create",
            target: app_id,
            detail: serde_json::json!({ "key": new.key, "label": new.label, "expires_at": new.expires_at }),
        })
        .await?;
        self.list_keys(app_id)
            .await?
            .into_iter()
            .find(|k| k.key == new.key)
            .ok_or(StoreError::NotFound("key"))
    }

    async fn list_keys(&self, app_id: &str) -> Result<Vec<AppKey>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {KEY_COLUMNS} FROM app_keys WHERE app_id = $1 ORDER BY created_at, key"
        ))
        .bind(app_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| self.key_from_row(r)).collect()
    }

    async fn set_key_expiry(
        &self,
        app_id: &str,
        key: &str,
        expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<AppKey, StoreError> {
        let app = self.get_app(app_id).await?;
        let mut tx = self.cached_write().await?;
        let done =
            sqlx::query("UPDATE app_keys SET expires_at = $1 WHERE app_id = $2 AND key = $3 AND revoked_at IS NULL")
                .bind(expires_at)
                .bind(app_id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("active key"));
        }
        tx.commit(AuditEntry {
            tenant_id: Some(&app.tenant_id),
            actor,
            action: "key.expiry",
            target: app_id,
            detail: serde_json::json!({ "key": key, "expires_at": expires_at }),
        })
        .await?;
        self.list_keys(app_id)
            .await?
            .into_iter()
            .find(|k| k.key == key)
            .ok_or(StoreError::NotFound("key"))
    }

    async fn revoke_key(&self, app_id: &str, key: &str, actor: &Actor) -> Result<AppKey, StoreError> {
        let app = self.get_app(app_id).await?;
        let mut tx = self.cached_write().await?;
        let done =
            sqlx::query("UPDATE app_keys SET revoked_at = $1 WHERE app_id = $2 AND key = $3 AND revoked_at IS NULL")
                .bind(unix_secs())
                .bind(app_id)
                .bind(key)
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("active key"));
        }
        tx.commit(AuditEntry {
            tenant_id: Some(&app.tenant_id),
            actor,
            action: "key.revoke",
            target: app_id,
            detail: serde_json::json!({ "key": key }),
        })
        .await?;
        self.list_keys(app_id)
            .await?
            .into_iter()
            .find(|k| k.key == key)
            .ok_or(StoreError::NotFound("key"))
    }

    async fn touch_keys(&self, keys: &[String], at: i64) -> Result<(), StoreError> {
        // Not a cached field: no revision bump, so usage never makes nodes reload.
        for key in keys {
            sqlx::query("UPDATE app_keys SET last_used_at = $1 WHERE key = $2")
                .bind(at)
                .bind(key)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    async fn revision(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT revision FROM config_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("revision")?)
    }

    async fn snapshot(&self) -> Result<Snapshot, StoreError> {
        // One read transaction, so the revision matches the rows read (it writes nothing, so it
        // needs no write lock: see `write_tx`).
        let mut tx = self.pool.begin().await?;
        let revision: i64 = sqlx::query("SELECT revision FROM config_revision WHERE id = 1")
            .fetch_one(&mut *tx)
            .await?
            .try_get("revision")?;
        let tenants = sqlx::query(
            "SELECT id, name, slug, status, max_apps, max_connections, max_messages_per_day, created_at FROM tenants",
        )
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(tenant_from_row)
        .collect::<Result<Vec<_>, _>>()?;
        let apps = sqlx::query(&format!("SELECT {APP_COLUMNS} FROM apps"))
            .fetch_all(&mut *tx)
            .await?;
        let key_rows = sqlx::query(&format!("SELECT {KEY_COLUMNS} FROM app_keys"))
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let mut keys: HashMap<String, Vec<AppKey>> = HashMap::new();
        for row in &key_rows {
            let key = self.key_from_row(row)?;
            keys.entry(key.app_id.clone()).or_default().push(key);
        }
        let apps = apps
            .iter()
            .map(|row| {
                let app = app_from_row(row)?;
                let keys = keys.remove(&app.id).unwrap_or_default();
                Ok(AppWithKeys { app, keys })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Snapshot {
            revision,
            tenants,
            apps,
        })
    }
}
