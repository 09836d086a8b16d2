//! The one helper every integration test goes through: `spawn_app` starts a real node (in this
//! process) on a random port, against a fresh SQLite directory or a fresh Postgres database, with an
//! owner admin ready to log in.
//!
//! Postgres comes from `HERALD_TEST_PG_URL` (`scripts/test` starts a throwaway server and sets it);
//! each test creates its own database and drops it when done, so tests run in parallel and twice.

pub mod store_fixture;

use std::path::PathBuf;
use std::sync::Arc;

use herald::admin::password;
use herald::config::{Config, Secret, Settings};
use herald::open_store::OpenMode;
use herald::shutdown::Shutdown;
use herald::startup::Application;
use herald::store::{Actor, ControlStore, Role, SecretBox, SqlStore};
use serde_json::{json, Value};
use sqlx::Connection;

pub const OWNER_EMAIL: &str = "owner@herald.test";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A running node and a way to talk to it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub owner_token: String,
    pub data_dir: PathBuf,
    /// What the node was started with.
    pub config: Config,
    shutdown: Shutdown,
    database: Option<(String, String)>,
}

fn pg_admin_url() -> String {
    std::env::var("HERALD_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates a fresh database; returns its URL and name.
async fn fresh_database() -> (String, String) {
    let admin_url = pg_admin_url();
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("Postgres at {admin_url} (HERALD_TEST_PG_URL): {e}; run the tests through scripts/test")
    });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = admin_url
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin_url);
    (format!("{base}/{name}"), name)
}

/// The master key of test nodes on Postgres (base64 of 32 bytes of 7).
pub const TEST_MASTER_KEY: &str = "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=";

/// A config for a test node: random port, fresh data directory, fast reloads.
pub async fn test_config(backend: Backend) -> (Config, Option<(String, String)>) {
    test_config_with(backend, |_| {}).await
}

/// `test_config`, with other settings changed by `change`.
pub async fn test_config_with(
    backend: Backend,
    change: impl FnOnce(&mut Settings),
) -> (Config, Option<(String, String)>) {
    let data_dir = std::env::temp_dir().join(format!("herald-it-{}", uuid::Uuid::new_v4().simple()));
    let database = match backend {
        Backend::Postgres => Some(fresh_database().await),
        Backend::Sqlite => None,
    };
    let mut settings = Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir,
        database_url: database.as_ref().map(|(url, _)| Secret(url.clone())),
        // A shared database needs a given key; the embedded store would generate one.
        master_key: database.as_ref().map(|_| Secret(TEST_MASTER_KEY.into())),
        app_refresh_ms: 100,
        ..Settings::default()
    };
    change(&mut settings);
    (settings.validate().expect("valid test settings"), database)
}

/// Opens the store of `config` directly (migrated), as the CLI does.
pub async fn open_store(config: &Config) -> Arc<SqlStore> {
    herald::open_store::open_store(&config.store, true, OpenMode::CreateIfMissing, &|_| {})
        .await
        .expect("store opens")
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// `spawn_app`, with other settings changed by `change`.
pub async fn spawn_app_with(backend: Backend, change: impl FnOnce(&mut Settings)) -> TestApp {
    let (config, database) = test_config_with(backend, change).await;
    let data_dir = config.store.data_dir.clone();
    let shutdown = Shutdown::new();
    let app = Application::build(config.clone(), shutdown.clone())
        .await
        .expect("node builds");
    let port = app.local_addr().expect("addr").port();
    tokio::spawn(app.run());
    let store: Arc<dyn ControlStore> = open_store(&config).await;
    let hash = password::hash(PASSWORD).expect("hash");
    store
        .create_admin(OWNER_EMAIL, &hash, Role::Owner, None, &Actor::cli())
        .await
        .expect("owner");
    let mut test = TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        owner_token: String::new(),
        data_dir,
        config: config.clone(),
        shutdown,
        database,
    };
    test.owner_token = test.login(OWNER_EMAIL, PASSWORD).await;
    test
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    /// Logs in and returns the access token; panics when login fails.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let res = self
            .post("/auth/login", None, json!({ "email": email, "password": password }))
            .await;
        assert_eq!(res.0, 200, "login of {email}: {}", res.1);
        res.1["access_token"].as_str().expect("token").to_string()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call(reqwest::Method::DELETE, path, token, None).await
    }

    /// Creates a tenant as the owner; returns its id.
    pub async fn tenant(&self, slug: &str) -> String {
        let (status, body) = self
            .post(
                "/tenants",
                Some(&self.owner_token),
                json!({ "name": slug, "slug": slug }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("id").to_string()
    }

    /// Creates an admin of `tenant_id` with `role` and logs in; returns the token.
    pub async fn tenant_admin(&self, tenant_id: &str, email: &str, role: &str) -> String {
        let body = json!({ "email": email, "password": PASSWORD, "role": role, "tenant_id": tenant_id });
        let (status, res) = self.post("/admins", Some(&self.owner_token), body).await;
        assert_eq!(status, 201, "{res}");
        self.login(email, PASSWORD).await
    }

    /// Creates an app in a tenant as the owner; returns (app, first key with secret).
    pub async fn app(&self, tenant_id: &str, name: &str) -> (Value, Value) {
        let (status, body) = self
            .post(
                &format!("/tenants/{tenant_id}/apps"),
                Some(&self.owner_token),
                json!({ "name": name }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        (body["app"].clone(), body["key"].clone())
    }

    /// Publishes one event through the Pusher HTTP API, signed with `key`/`secret`.
    pub async fn publish(&self, app_id: &str, key: &str, secret: &str) -> (u16, String) {
        let body = json!({ "name": "hello", "channel": "news", "data": "{}" }).to_string();
        let url = pusher_signed_url(
            &self.base,
            "POST",
            &format!("/apps/{app_id}/events"),
            key,
            secret,
            body.as_bytes(),
        );
        let res = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        (res.status().as_u16(), res.text().await.unwrap_or_default())
    }

    pub fn secrets(&self) -> SecretBox {
        match self.database.is_some() {
            true => SecretBox::from_base64(TEST_MASTER_KEY),
            false => SecretBox::load(None, &self.data_dir),
        }
        .expect("master key")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.trigger();
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((_, name)) = self.database.take() {
            drop_database(name);
        }
    }
}

/// Removes what `test_config` made: the data directory and, on Postgres, the database.
pub fn remove_test_store(config: &Config, database: Option<(String, String)>) {
    let _ = std::fs::remove_dir_all(&config.store.data_dir);
    if let Some((_, name)) = database {
        drop_database(name);
    }
}

/// Drops a test database, from a thread of its own (this runs in `Drop`, which cannot await).
pub fn drop_database(name: String) {
    let admin_url = pg_admin_url();
    let _ = std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
            return;
        };
        rt.block_on(async move {
            if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await;
            }
        });
    })
    .join();
}

/// Declares `name_sqlite` and `name_postgres` tests running `body(Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $body($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $body($crate::common::Backend::Postgres).await
            }
        }
    };
}

/// A Pusher HTTP API URL for `path`, signed with `key`/`secret` the way the server SDKs sign.
pub fn pusher_signed_url(base: &str, method: &str, path: &str, key: &str, secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    use md5::{Digest, Md5};
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut query = format!("auth_key={key}&auth_timestamp={ts}&auth_version=1.0");
    if !body.is_empty() {
        query.push_str(&format!("&body_md5={}", hex::encode(Md5::digest(body))));
    }
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{method}\n{path}\n{query}").as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    format!("{base}{path}?{query}&auth_signature={signature}")
}
