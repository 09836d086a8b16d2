//! Tenants in SQL.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::write::AuditEntry;
use super::{unique, SqlStore};
use crate::clock::unix_secs;
use crate::store::app::{check_name, invalid};
use crate::store::{Actor, StoreError, Tenant, TenantLimits, TenantPatch, TenantStatus, TenantStore};

pub(super) const COLUMNS: &str = "id, name, slug, status, max_apps, max_connections, max_messages_per_day, created_at";

pub(super) fn tenant_from_row(row: &AnyRow) -> Result<Tenant, StoreError> {
    Ok(Tenant {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        slug: row.try_get("slug")?,
        status: TenantStatus::parse(&row.try_get::<String, _>("status")?),
        limits: TenantLimits {
            max_apps: row.try_get("max_apps")?,
            max_connections: row.try_get("max_connections")?,
            max_messages_per_day: row.try_get("max_messages_per_day")?,
        },
        created_at: row.try_get("created_at")?,
    })
}

/// A slug: 1 to 63 characters of `[a-z0-9-]`, not starting or ending with `-`.
fn check_slug(slug: &str) -> Result<(), StoreError> {
    let ok = (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    ok.then_some(()).ok_or_else(|| {
        invalid(
            "slug",
            "must be 1 to 63 characters of [a-z0-9-], not starting or ending with -",
        )
    })
}

/// Inserts an active tenant, inside the caller's transaction.
pub(super) async fn insert_tenant(
    tx: &mut sqlx::AnyConnection,
    id: &str,
    name: &str,
    slug: &str,
    limits: &TenantLimits,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO tenants (id, name, slug, status, max_apps, max_connections, max_messages_per_day, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $7)",
    )
    .bind(id)
    .bind(name)
    .bind(slug)
    .bind(limits.max_apps)
    .bind(limits.max_connections)
    .bind(limits.max_messages_per_day)
    .bind(unix_secs())
    .execute(&mut *tx)
    .await
    .map_err(unique("slug"))?;
    Ok(())
}

fn check_limits(l: &TenantLimits) -> Result<(), StoreError> {
    if l.max_apps < 0 || l.max_connections < 0 || l.max_messages_per_day < 0 {
        return Err(invalid("limits", "limits must be 0 (unlimited) or positive"));
    }
    Ok(())
}

#[async_trait]
impl TenantStore for SqlStore {
    async fn create_tenant(
        &self,
        name: &str,
        slug: &str,
        limits: TenantLimits,
        actor: &Actor,
    ) -> Result<Tenant, StoreError> {
        let name = check_name("name", name)?;
        check_slug(slug)?;
        check_limits(&limits)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut tx = self.cached_write().await?;
        insert_tenant(&mut tx, &id, &name, slug, &limits).await?;
        tx.commit(AuditEntry {
            tenant_id: Some(&id),
            actor,
            action: "tenant.create",
            target: slug,
            detail: serde_json::json!({ "name": name }),
        })
        .await?;
        self.get_tenant(&id).await
    }

    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants ORDER BY created_at, slug"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(tenant_from_row).collect()
    }

    async fn get_tenant(&self, id: &str) -> Result<Tenant, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        tenant_from_row(&row)
    }

    async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE slug = $1"))
            .bind(slug)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NotFound("tenant"))?;
        tenant_from_row(&row)
    }

    async fn update_tenant(&self, id: &str, patch: TenantPatch, actor: &Actor) -> Result<Tenant, StoreError> {
        let name = patch.name.as_deref().map(|n| check_name("name", n)).transpose()?;
        let limits = [patch.max_apps, patch.max_connections, patch.max_messages_per_day];
        if limits.iter().flatten().any(|l| *l < 0) {
            return Err(invalid("limits", "limits must be 0 (unlimited) or positive"));
        }
        // One statement applies only the given fields, so concurrent updates never overwrite each other.
        let mut tx = self.cached_write().await?;
        let done = sqlx::query(
            "UPDATE tenants SET name = COALESCE($1, name), status = COALESCE($2, status), \
             max_apps = COALESCE($3, max_apps), max_connections = COALESCE($4, max_connections), \
             max_messages_per_day = COALESCE($5, max_messages_per_day), updated_at = $6 WHERE id = $7",
        )
        .bind(name)
        .bind(patch.status.map(|s| s.as_str()))
        .bind(patch.max_apps)
        .bind(patch.max_connections)
        .bind(patch.max_messages_per_day)
        .bind(unix_secs())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("tenant"));
        }
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let tenant = tenant_from_row(&row)?;
        tx.commit(AuditEntry {
            tenant_id: Some(id),
            actor,
            action: "tenant.update",
            target: &tenant.slug,
            detail: serde_json::json!({ "name": tenant.name, "status": tenant.status, "limits": tenant.limits }),
        })
        .await?;
        Ok(tenant)
    }

    async fn delete_tenant(&self, id: &str, actor: &Actor) -> Result<(), StoreError> {
        let tenant = self.get_tenant(id).await?;
        let mut tx = self.cached_write().await?;
        sqlx::query("DELETE FROM tenants WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Audit entries have no foreign key: the record of what happened outlives the tenant.
        tx.commit(AuditEntry {
            tenant_id: Some(id),
            actor,
            action: "tenant.delete",
            target: &tenant.slug,
            detail: serde_json::json!({ "id": id }),
        })
        .await?;
        Ok(())
    }
}
