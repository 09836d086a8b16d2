//! Opening the control store the way operators rely on: a command that only reads finds no store
//! where there is none (and creates nothing), a shared database never gets a generated master key,
//! and a key that is not the store's is refused at once, naming what to set.

use herald::config::Secret;
use herald::open_store::{open_store, OpenError, OpenMode};

use crate::common::{test_config, Backend, TEST_MASTER_KEY};

#[tokio::test]
async fn a_read_only_command_creates_no_store_and_says_where_it_looked() {
    let (config, _) = test_config(Backend::Sqlite).await;
    let missing = open_store(&config.store, false, OpenMode::Existing, &|_| {}).await;
    let Err(OpenError::NoStore(path)) = missing else {
        panic!("expected NoStore, got {:?}", missing.map(|_| "a store"));
    };
    assert!(path.is_absolute() && path.ends_with("herald.db"), "{path:?}");
    assert!(!config.store.data_dir.exists(), "nothing was created");
    open_store(&config.store, true, OpenMode::CreateIfMissing, &|_| {})
        .await
        .expect("a writing command creates it");
    open_store(&config.store, false, OpenMode::Existing, &|_| {})
        .await
        .expect("now it is found");
    let _ = std::fs::remove_dir_all(&config.store.data_dir);
}

async fn a_shared_database_needs_the_stores_master_key(backend: Backend) {
    let (mut config, database) = test_config(backend).await;
    let open = |config: herald::config::StoreConfig| async move {
        open_store(&config, true, OpenMode::CreateIfMissing, &|_| {}).await
    };
    open(config.store.clone())
        .await
        .expect("the first open records the key");
    let other_key = Secret(base64_of([9u8; 32]));
    config.store.master_key = Some(other_key);
    let refused = open(config.store.clone()).await.err().expect("another key is refused");
    let message = refused.to_string();
    assert!(
        message.contains("HERALD_MASTER_KEY") && message.contains("fingerprint"),
        "{message}"
    );
    if database.is_some() {
        config.store.master_key = None;
        let none = open(config.store.clone())
            .await
            .err()
            .expect("no key for a shared database");
        assert!(matches!(none, OpenError::MasterKeyRequired), "{none:?}");
        assert!(
            !config.store.data_dir.join("master.key").exists(),
            "no key was generated"
        );
    }
    config.store.master_key = Some(Secret(TEST_MASTER_KEY.into()));
    if database.is_none() {
        config.store.master_key = None; // the embedded store's own, generated key
    }
    open(config.store.clone()).await.expect("the store's own key opens it");
    crate::common::remove_test_store(&config, database);
}
both_backends!(master_key, a_shared_database_needs_the_stores_master_key);

fn base64_of(bytes: [u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test]
async fn the_embedded_store_and_its_wal_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let (config, _) = test_config(Backend::Sqlite).await;
    let store = open_store(&config.store, true, OpenMode::CreateIfMissing, &|_| {})
        .await
        .expect("opens");
    {
        use herald::store::prelude::*;
        let admin = herald::store::Actor::cli();
        store
            .create_tenant("T", "t", Default::default(), &admin)
            .await
            .expect("a write makes the WAL");
    }
    let mode = |name: &str| std::fs::metadata(config.store.data_dir.join(name)).map(|m| m.permissions().mode() & 0o777);
    assert_eq!(mode("herald.db").expect("db"), 0o600);
    assert_eq!(mode("herald.db-wal").expect("wal"), 0o600);
    assert_eq!(mode("master.key").expect("key"), 0o600);
    let dir = std::fs::metadata(&config.store.data_dir)
        .expect("dir")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir, 0o700);
    let _ = std::fs::remove_dir_all(&config.store.data_dir);
}
