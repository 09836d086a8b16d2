//! Opening the control store as the configuration says: Postgres (`database_url`) or the embedded
//! SQLite file in the data directory, with which master key, whether a new embedded store may be
//! made here, and how long to wait for a database that does not answer yet.
//!
//! The rules an operator relies on: a command that only reads never creates a store (it names where
//! it looked); a new embedded store is announced with its path; a shared database never gets a
//! silently generated master key, and a key that is not the store's is refused at once.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;

use crate::config::StoreConfig;
use crate::store::{SecretBox, SqlStore, StoreError};

/// What opening the store may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// A node, or a command that writes: a missing embedded store is created (and said so).
    CreateIfMissing,
    /// A command that only reads: a missing embedded store is an error naming where it looked.
    Existing,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(
        "no Herald store at {0}: run this where `herald serve` keeps its data (--data-dir or \
         HERALD_DATA_DIR), or give HERALD_DATABASE_URL"
    )]
    NoStore(PathBuf),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: PathBuf, source: std::io::Error },
    #[error(
        "HERALD_DATABASE_URL is set but no master key is: set HERALD_MASTER_KEY (base64 of 32 bytes, \
         e.g. `openssl rand -base64 32`) or HERALD_MASTER_KEY_FILE to the same key on every node and for \
         every CLI call (a key is generated only for a single node's embedded store)"
    )]
    MasterKeyRequired,
    #[error("cannot read the master key file {path}: {source}")]
    MasterKeyFile { path: PathBuf, source: std::io::Error },
    #[error("the control database at {host} did not answer for {waited} s (database_wait): {source}")]
    Unreachable {
        host: String,
        waited: u64,
        #[source]
        source: StoreError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Opens the store, runs the migrations when `migrate` (or the configuration) says so, and checks the
/// master key. A database that does not answer is retried, with back-off, for `database_wait`;
/// `waiting` hears why each attempt failed (a starting node shows it on /readyz).
pub async fn open_store(
    config: &StoreConfig,
    migrate: bool,
    mode: OpenMode,
    waiting: &(dyn Fn(&str) + Send + Sync),
) -> Result<Arc<SqlStore>, OpenError> {
    if config.database_url.is_none() {
        prepare_embedded(&config.data_dir, mode)?;
    }
    let secrets = master_key(config)?;
    let url = config.database_url.as_ref().map(|s| s.0.as_str());
    let host = url.map(host_of).unwrap_or_else(|| "the embedded store".into());
    let deadline = tokio::time::Instant::now() + config.database_wait;
    let mut pause = Duration::from_millis(250);
    let store = loop {
        let attempt = async {
            // One connection first: a pool would retry it quietly until its own timeout.
            if let Some(url) = url {
                sqlx::any::install_default_drivers();
                sqlx::AnyConnection::connect(url).await.map_err(StoreError::Database)?;
            }
            SqlStore::connect(url, &config.data_dir, secrets.clone(), migrate || config.migrate).await
        };
        match attempt.await {
            Ok(store) => break store,
            Err(StoreError::Database(e)) if unreachable(&e) && tokio::time::Instant::now() < deadline => {
                let why = format!("waiting for the control database at {host}: {e}");
                tracing::warn!(host = %host, error = %e, "the control database does not answer yet; retrying");
                waiting(&why);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(StoreError::Database(e)) if unreachable(&e) => {
                let waited = config.database_wait.as_secs();
                return Err(OpenError::Unreachable {
                    host,
                    waited,
                    source: StoreError::Database(e),
                });
            }
            Err(e) => return Err(e.into()),
        }
    };
    store.check_master_key().await?;
    Ok(Arc::new(store))
}

/// The embedded store's directory: refused when a read-only command would have to create it;
/// otherwise made (0700), a new store announced. The store's file is kept 0600 (it holds password
/// hashes and the lifecycle log; SQLite gives its WAL and shared-memory files the same mode).
fn prepare_embedded(data_dir: &Path, mode: OpenMode) -> Result<(), OpenError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let file = data_dir.join("herald.db");
    let dir_error = |source| OpenError::DataDir {
        path: absolute(data_dir),
        source,
    };
    if !file.exists() {
        if mode == OpenMode::Existing {
            return Err(OpenError::NoStore(absolute(&file)));
        }
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(dir_error)?;
        tracing::info!(path = %absolute(&file).display(), "creating a new Herald store");
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&file)
            .map_err(dir_error)?;
    }
    for name in ["herald.db", "herald.db-wal", "herald.db-shm"] {
        let path = data_dir.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).map_err(dir_error)?;
        }
    }
    Ok(())
}

/// The configured key, the key file, or (a single node's embedded store only) the data directory's
/// key, generated on first start.
fn master_key(config: &StoreConfig) -> Result<SecretBox, OpenError> {
    if let Some(key) = &config.master_key {
        return Ok(SecretBox::from_base64(&key.0)?);
    }
    if let Some(path) = &config.master_key_file {
        let key = std::fs::read_to_string(path).map_err(|source| OpenError::MasterKeyFile {
            path: path.clone(),
            source,
        })?;
        return Ok(SecretBox::from_base64(&key)?);
    }
    let generated_file = config.data_dir.join("master.key");
    if config.database_url.is_some() && !generated_file.exists() {
        return Err(OpenError::MasterKeyRequired);
    }
    Ok(SecretBox::load(None, &config.data_dir)?)
}

/// Errors that mean "not there (yet)", as opposed to "there, and refusing".
fn unreachable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_))
        || matches!(e, sqlx::Error::Database(db) if db.code().is_some_and(|c| c == "57P03"))
}

/// `host:port` of a database URL, without credentials.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority)
        .to_string()
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_named_without_credentials() {
        assert_eq!(
            host_of("postgres://u:secret@db.internal:5432/herald?sslmode=require"),
            "db.internal:5432"
        );
        assert_eq!(host_of("postgres://db/herald"), "db");
    }
}
