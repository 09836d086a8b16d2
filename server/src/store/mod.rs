//! Control store: where apps, their keys and their settings live.
//!
//! `ControlStore` is the seam: `sqlite.rs` implements it for the embedded default; the Postgres
//! implementation comes with the control plane. Nothing outside this module writes SQL. The connect and
//! publish paths never call the store: they read the in-memory `AppDirectory`, which polls it.

mod app;
mod sqlite;

pub use app::{App, AppSettings, NewApp, SettingsPatch};
pub use sqlite::SqliteStore;

use async_trait::async_trait;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (id or key) is already taken.
    #[error("an app with this {0} already exists")]
    Duplicate(&'static str),
    #[error("no app with id {0:?}")]
    NotFound(String),
    #[error("invalid {field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored settings are not valid JSON: {0}")]
    Settings(#[from] serde_json::Error),
}

/// Where apps live.
#[async_trait]
pub trait ControlStore: Send + Sync + 'static {
    /// Creates an app, generating the id, key and secret that `new` leaves out.
    async fn create_app(&self, new: NewApp) -> Result<App, StoreError>;
    /// Every app, ordered by creation.
    async fn list_apps(&self) -> Result<Vec<App>, StoreError>;
    /// Applies the given settings to one app.
    async fn update_app(&self, id: &str, patch: SettingsPatch) -> Result<App, StoreError>;
    /// True when the store answers.
    async fn ping(&self) -> bool;
}
