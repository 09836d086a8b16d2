//! The embedded control store: one SQLite file under the data directory.

use std::path::Path;
use std::str::FromStr;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use super::{App, AppSettings, ControlStore, NewApp, SettingsPatch, StoreError};

/// Apps in a SQLite database.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) `herald.db` in `data_dir` and runs the migrations.
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let url = format!("sqlite://{}", data_dir.join("herald.db").display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("../migrations/sqlite").run(&pool).await?;
        Ok(SqliteStore { pool })
    }

    async fn get_app(&self, id: &str) -> Result<App, StoreError> {
        let row = sqlx::query("SELECT id, name, key, secret, settings FROM apps WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        app_from_row(&row)
    }
}

fn app_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<App, StoreError> {
    let settings: String = row.try_get("settings")?;
    Ok(App {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        key: row.try_get("key")?,
        secret: row.try_get("secret")?,
        settings: serde_json::from_str::<AppSettings>(&settings)?,
    })
}

/// Turns a unique-constraint violation into the field that collided.
fn unique_violation(err: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &err {
        if db.is_unique_violation() {
            let field = if db.message().contains("apps.key") {
                "key"
            } else {
                "id"
            };
            return StoreError::Duplicate(field);
        }
    }
    StoreError::Database(err)
}

#[async_trait]
impl ControlStore for SqliteStore {
    async fn create_app(&self, new: NewApp) -> Result<App, StoreError> {
        let app = new.into_app()?;
        sqlx::query("INSERT INTO apps (id, name, key, secret, settings) VALUES (?, ?, ?, ?, ?)")
            .bind(&app.id)
            .bind(&app.name)
            .bind(&app.key)
            .bind(&app.secret)
            .bind(serde_json::to_string(&app.settings)?)
            .execute(&self.pool)
            .await
            .map_err(unique_violation)?;
        Ok(app)
    }

    async fn list_apps(&self) -> Result<Vec<App>, StoreError> {
        let rows =
            sqlx::query("SELECT id, name, key, secret, settings FROM apps ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(app_from_row).collect()
    }

    async fn update_app(&self, id: &str, patch: SettingsPatch) -> Result<App, StoreError> {
        // Read-modify-write in one transaction so concurrent updates do not lose fields.
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT settings FROM apps WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        let mut settings: AppSettings = serde_json::from_str(row.try_get("settings")?)?;
        patch.apply(&mut settings);
        sqlx::query("UPDATE apps SET settings = ?, updated_at = CURRENT_TIMESTAMP WHERE id = ?")
            .bind(serde_json::to_string(&settings)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get_app(id).await
    }

    async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}
