//! `SqlStore`: the control store in portable SQL over `sqlx::Any`, for SQLite and Postgres.
//!
//! Both backends run the same statements (`$n` placeholders work in both; the lifecycle log's
//! batched insert gives SQLite `?` instead, see `events`); only the migrations differ
//! (`migrations/sqlite`, `migrations/postgres`). Every write that nodes cache goes through
//! `CachedWrite`, which bumps `config_revision` and writes the audit entry in the same transaction,
//! so a failed write leaves nothing half-done.

mod admins;
mod apps;
mod audit;
mod events;
mod first_app;
mod meta;
mod stats;
mod tenants;
mod webhooks;
mod write;

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};

use super::{Actor, ControlStore, SecretBox, StoreError};

/// The control store on SQLite or Postgres.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    backend: Backend,
    secrets: SecretBox,
}

/// Which database: decided once, from the URL, when the store connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Connections in the pool: SQLite writes one at a time anyway.
    fn max_connections(self) -> u32 {
        match self {
            Backend::Sqlite => 4,
            Backend::Postgres => 10,
        }
    }

    /// Whether the pool checks a connection (a round trip) each time it hands one out: a Postgres
    /// connection may have been cut since its last use (a restart, a proxy's idle timeout); a SQLite
    /// one is a file this process holds open, and checking it cost a trip to its worker thread for
    /// every query.
    fn checks_before_use(self) -> bool {
        self == Backend::Postgres
    }
}

impl SqlStore {
    /// Connects to `database_url` (Postgres), or to `herald.db` in `data_dir` when it is `None`,
    /// and runs the migrations when `migrate` is set.
    pub async fn connect(
        database_url: Option<&str>,
        data_dir: &Path,
        secrets: SecretBox,
        migrate: bool,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = match database_url {
            Some(url) => (url.to_string(), Backend::Postgres),
            None => (
                format!("sqlite://{}?mode=rwc", data_dir.join("herald.db").display()),
                Backend::Sqlite,
            ),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(backend.max_connections())
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(backend.checks_before_use())
            .connect(&url)
            .await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
        }
        let store = SqlStore { pool, backend, secrets };
        if migrate {
            store.migrate().await?;
        }
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Postgres => sqlx::migrate!("../migrations/postgres").run(&self.pool).await?,
            Backend::Sqlite => sqlx::migrate!("../migrations/sqlite").run(&self.pool).await?,
        }
        Ok(())
    }

    pub fn secrets(&self) -> &SecretBox {
        &self.secrets
    }

    /// Begins a transaction that writes. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails at once with
    /// "database is locked" when another connection (the server's lifecycle log, a CLI command)
    /// wrote in between, and the busy timeout cannot help it; an immediate one waits its turn.
    async fn write_tx(&self) -> Result<Transaction<'static, Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }
}

#[async_trait]
impl ControlStore for SqlStore {
    async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    fn backend(&self) -> &'static str {
        self.backend.as_str()
    }
}

/// Writes an audit entry inside the caller's transaction.
async fn audit(
    tx: &mut Transaction<'_, Any>,
    tenant_id: Option<&str>,
    actor: &Actor,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO audit_log (tenant_id, actor, action, target, detail, at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(tenant_id)
        .bind(&actor.0)
        .bind(action)
        .bind(target)
        .bind(detail.to_string())
        .bind(crate::clock::unix_secs())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Turns a unique-constraint violation into the field that collided; other errors pass through.
fn unique(field: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Duplicate(field),
        _ => StoreError::Database(err),
    }
}

/// Turns a foreign-key violation into "`what` not found"; other errors pass through.
fn missing(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound(what),
        _ => StoreError::Database(err),
    }
}

/// Reads an optional i64 column.
fn opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    row.try_get::<Option<i64>, _>(col)
}
