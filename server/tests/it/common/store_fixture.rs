//! A control store opened directly (no HTTP) on a fresh SQLite directory or Postgres database, for
//! the suites that test the store itself, with raw queries that read past it.

use std::sync::Arc;

use herald::config::Config;
use herald::store::prelude::*;
use herald::store::{Actor, NewApp, SqlStore, Tenant, TenantLimits};
use sqlx::Connection;

use super::{open_store, test_config, Backend};

/// A migrated store on a fresh SQLite directory or Postgres database, removed on drop.
pub struct Fixture {
    pub store: Arc<SqlStore>,
    pub url: String,
    pub data_dir: std::path::PathBuf,
    pub database: Option<(String, String)>,
    config: Config,
}

pub async fn fixture(backend: Backend) -> Fixture {
    let (config, database) = test_config(backend).await;
    let store = open_store(&config).await;
    let url = match &database {
        Some((url, _)) => url.clone(),
        None => format!("sqlite://{}", config.store.data_dir.join("herald.db").display()),
    };
    Fixture {
        store,
        url,
        data_dir: config.store.data_dir.clone(),
        database,
        config,
    }
}

impl Fixture {
    /// Another store on the same database, with a pool of its own: what a second process (a CLI
    /// command beside a running server) holds.
    pub async fn second_store(&self) -> Arc<SqlStore> {
        open_store(&self.config).await
    }

    /// A tenant with default limits whose name is `slug` in upper case.
    pub async fn tenant(&self, slug: &str) -> Tenant {
        self.store
            .create_tenant(&slug.to_uppercase(), slug, TenantLimits::default(), &actor())
            .await
            .expect("tenant")
    }

    /// A tenant `T` (default limits) with one app named `app`: the tenant and the app's id.
    pub async fn tenant_with_app(&self, app: &str) -> (Tenant, String) {
        let t = self.tenant("t").await;
        let app = self.store.create_app(&t.id, new_app(app), &actor()).await.expect("app");
        (t, app.app.id)
    }

    /// Rows of a raw query's first column, read outside the store (as strings).
    pub async fn raw_strings(&self, sql: &str) -> Vec<String> {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("raw connection");
        let rows = sqlx::query(sql).fetch_all(&mut conn).await.expect("raw query");
        use sqlx::Row;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).expect("text column"))
            .collect()
    }

    pub async fn raw_count(&self, sql: &str) -> i64 {
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&self.url).await.expect("raw connection");
        use sqlx::Row;
        sqlx::query(sql)
            .fetch_one(&mut conn)
            .await
            .expect("raw count")
            .try_get::<i64, _>(0)
            .expect("count")
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((_, name)) = self.database.take() {
            super::drop_database(name);
        }
    }
}

pub fn actor() -> Actor {
    Actor("test:contract".into())
}

pub fn new_app(name: &str) -> NewApp {
    NewApp {
        name: name.into(),
        ..Default::default()
    }
}
