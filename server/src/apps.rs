//! App directory: the in-memory copy of every app, read by the connect and publish paths.
//!
//! Owns the cache only. A background task reloads it from the `ControlStore` every refresh interval,
//! so a setting changed in the store (by the CLI or, later, the admin API) applies to a running node
//! without restart, and a store that stops answering leaves the node serving the last good copy.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::shutdown::Shutdown;
use crate::store::{App, ControlStore, StoreError};

#[derive(Default)]
struct Snapshot {
    by_id: HashMap<String, Arc<App>>,
    by_key: HashMap<String, Arc<App>>,
}

/// Apps by id and by key.
#[derive(Default)]
pub struct AppDirectory {
    snapshot: RwLock<Arc<Snapshot>>,
}

impl AppDirectory {
    pub fn by_key(&self, key: &str) -> Option<Arc<App>> {
        self.snapshot.read().by_key.get(key).cloned()
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.snapshot.read().by_id.get(id).cloned()
    }

    /// Replaces the cache with `apps`, keeping the `Arc`s of apps that did not change.
    pub fn replace(&self, apps: Vec<App>) -> bool {
        let old = self.snapshot.read().clone();
        let unchanged = apps.len() == old.by_id.len()
            && apps
                .iter()
                .all(|a| old.by_id.get(&a.id).is_some_and(|o| **o == *a));
        if unchanged {
            return false;
        }
        let mut next = Snapshot::default();
        for app in apps {
            let app = Arc::new(app);
            next.by_key.insert(app.key.clone(), app.clone());
            next.by_id.insert(app.id.clone(), app);
        }
        *self.snapshot.write() = Arc::new(next);
        true
    }

    /// Loads every app from the store once.
    pub async fn refresh(&self, store: &dyn ControlStore) -> Result<bool, StoreError> {
        Ok(self.replace(store.list_apps().await?))
    }

    /// Reloads from the store every `interval` until shutdown.
    pub fn spawn_refresher(
        self: Arc<Self>,
        store: Arc<dyn ControlStore>,
        interval: Duration,
        shutdown: Shutdown,
    ) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.stopping() => return,
                    _ = tick.tick() => {}
                }
                match self.refresh(store.as_ref()).await {
                    Ok(true) => tracing::info!("app settings reloaded from the store"),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not reload apps; serving the cached copy")
                    }
                }
            }
        });
    }
}
