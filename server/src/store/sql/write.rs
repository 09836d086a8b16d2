//! `CachedWrite`: the one way to change what nodes cache (tenants, apps, keys). It is a write
//! transaction whose `commit` also writes the change's audit entry and bumps `config_revision`, so
//! no such write can skip either, and a failed write leaves none of the three behind.

use std::ops::{Deref, DerefMut};

use sqlx::AnyConnection;
use sqlx::{Any, Transaction};

use super::{audit, SqlStore};
use crate::store::{Actor, StoreError};

/// A write transaction over cached data; dropped without `commit`, it rolls back.
pub(super) struct CachedWrite(Transaction<'static, Any>);

/// What the audit log records of a change.
pub(super) struct AuditEntry<'a> {
    pub tenant_id: Option<&'a str>,
    pub actor: &'a Actor,
    pub action: &'static str,
    pub target: &'a str,
    pub detail: serde_json::Value,
}

impl SqlStore {
    /// Begins a change to cached data (see `write_tx` for how it takes the write lock).
    pub(super) async fn cached_write(&self) -> Result<CachedWrite, StoreError> {
        Ok(CachedWrite(self.write_tx().await?))
    }
}

impl CachedWrite {
    /// Records `entry`, tells the nodes their copy is stale, and commits.
    pub async fn commit(mut self, entry: AuditEntry<'_>) -> Result<(), StoreError> {
        let AuditEntry {
            tenant_id,
            actor,
            action,
            target,
            detail,
        } = entry;
        audit(&mut self.0, tenant_id, actor, action, target, detail).await?;
        sqlx::query("UPDATE config_revision SET revision = revision + 1 WHERE id = 1")
            .execute(&mut *self.0)
            .await?;
        self.0.commit().await?;
        Ok(())
    }
}

impl Deref for CachedWrite {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.0
    }
}

impl DerefMut for CachedWrite {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.0
    }
}
