//! The node's copy of tenants, apps and keys (`AppDirectory`) against a real store: a key another
//! node made a moment ago is found at once when a client or publisher presents it, not at the
//! next periodic reload, and a reload made that way still hands its revocations to the hub.

use std::sync::Arc;
use std::time::Duration;

use crate::common::{open_store, test_config, Backend};
use herald::apps::{AppDirectory, Revoked};
use herald::shutdown::Shutdown;
use herald::store::prelude::*;
use herald::store::{Actor, NewApp, NewKey, TenantLimits};
use parking_lot::Mutex;

/// Longer than any test runs: every reload here is one a lookup asked for.
const NEVER: Duration = Duration::from_secs(3600);

async fn unknown_keys_are_looked_for_and_revocations_still_arrive(backend: Backend) {
    let (config, database) = test_config(backend).await;
    let store = open_store(&config).await;
    let actor = Actor("test:directory".into());
    let tenant = store
        .create_tenant("Acme", "acme", TenantLimits::default(), &actor)
        .await
        .expect("tenant");
    let first = store
        .create_app(
            &tenant.id,
            NewApp {
                name: "first".into(),
                ..Default::default()
            },
            &actor,
        )
        .await
        .expect("app");

    let directory = Arc::new(AppDirectory::default());
    directory.refresh(store.as_ref()).await.expect("first load");
    let revoked: Arc<Mutex<Vec<Revoked>>> = Arc::default();
    let shutdown = Shutdown::new();
    let seen = revoked.clone();
    directory
        .clone()
        .spawn_refresher(store.clone(), NEVER, shutdown.clone(), move |r| seen.lock().push(r));
    tokio::time::sleep(Duration::from_millis(50)).await; // the interval's first, immediate tick

    // "another node" adds a key and an app behind the directory's back
    let key = store
        .create_key(
            &first.app.id,
            NewKey::new(None, None, "made elsewhere".into(), None).expect("new key"),
            &actor,
        )
        .await
        .expect("key");
    let second = store
        .create_app(
            &tenant.id,
            NewApp {
                name: "second".into(),
                ..Default::default()
            },
            &actor,
        )
        .await
        .expect("second app");
    assert!(directory.by_key(&key.key).is_none(), "not in the copy yet");
    directory.look_for_key(&key.key).await;
    assert!(directory.by_key(&key.key).is_some(), "found by the lookup's reload");
    directory.look_for_app(&second.app.id).await;
    assert!(
        directory.by_id(&second.app.id).is_some(),
        "app found by the same reload"
    );

    // a revocation picked up by a lookup's reload still reaches the hub
    store.revoke_key(&first.app.id, &key.key, &actor).await.expect("revoke");
    directory.look_for_key("no-such-key").await;
    assert!(directory.by_key(&key.key).is_none(), "revoked key gone from the copy");
    let revoked = revoked.lock();
    assert!(
        revoked.iter().any(|r| r.keys.contains(&key.key)),
        "the revocation went to the hub: {revoked:?}"
    );
    drop(revoked);
    shutdown.trigger();
    crate::common::remove_test_store(&config, database);
}

both_backends!(lookups, unknown_keys_are_looked_for_and_revocations_still_arrive);
