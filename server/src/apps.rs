//! App directory: the in-memory copy of every tenant, app and key, read by the connect and publish
//! paths so they never wait on the database.
//!
//! A background task polls the store's revision (a single-row read) and reloads the snapshot when it
//! moved, so a change made through the admin API or the CLI applies to every node within about a
//! second, whichever node made it. When the store stops answering, the node keeps serving the last
//! good copy and reports the store unready; it recovers by itself. Reloads report which keys stopped
//! being usable and which apps were disabled, so the hub can close their connections.
//!
//! A key or app id the copy does not know is looked for once more before it is refused:
//! `catch_up` asks the refresher for a reload that starts after the request and waits for it (at
//! most `CATCH_UP_DEADLINE`), so a key created on one node works at once on every other. Every
//! reload goes through the refresher task, so none of its revocations can be missed.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::sync::{watch, Notify};

use crate::clock::unix_secs;
use crate::shutdown::Shutdown;
use crate::store::{App, ControlStore, Snapshot, StoreError, Tenant, TenantStatus};

/// A usable key of an app, with its secret.
#[derive(Clone)]
pub struct KeyEntry {
    pub key: Arc<str>,
    pub secret: Arc<str>,
    pub expires_at: Option<i64>,
    pub app: Arc<App>,
}

impl KeyEntry {
    pub fn is_active(&self, now: i64) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
}

#[derive(Default)]
struct Cache {
    revision: i64,
    apps: HashMap<String, Arc<App>>,
    keys: HashMap<String, KeyEntry>,
    tenants: HashMap<String, Arc<Tenant>>,
}

/// What a reload changed that live connections must hear about.
#[derive(Debug, Default, PartialEq)]
pub struct Revoked {
    /// Keys revoked or deleted: their connections close with 4001.
    pub keys: Vec<String>,
    /// Apps disabled, deleted, or whose tenant was suspended: their connections close with 4003.
    pub apps: Vec<String>,
}

/// How long a connect or a signed request with a key (or app id) the cache does not know waits for
/// the reload that looks for it.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(1);

/// How often the keys used since the last time are written to the store (`last_used_at`).
const USAGE_FLUSH_EVERY: Duration = Duration::from_secs(10);

/// Tenants, apps and keys by id and key.
pub struct AppDirectory {
    cache: RwLock<Arc<Cache>>,
    used_keys: Mutex<HashSet<String>>,
    store_ok: AtomicBool,
    /// Wakes the refresher before its next tick (`catch_up`).
    nudge: Notify,
    /// Reloads the refresher has started, and (watched) finished, successfully or not.
    reloads_started: AtomicU64,
    reloads_done: watch::Sender<u64>,
}

impl Default for AppDirectory {
    fn default() -> Self {
        Self {
            cache: RwLock::default(),
            used_keys: Mutex::default(),
            store_ok: AtomicBool::default(),
            nudge: Notify::new(),
            reloads_started: AtomicU64::new(0),
            reloads_done: watch::Sender::new(0),
        }
    }
}

impl AppDirectory {
    /// The app and secret of an active key. Marks the key as used.
    pub fn by_key(&self, key: &str) -> Option<KeyEntry> {
        let entry = self.cache.read().keys.get(key).cloned()?;
        if !entry.is_active(unix_secs()) {
            return None;
        }
        // On the connect and publish paths: allocate only the first time a key is seen per flush.
        let mut used = self.used_keys.lock();
        if !used.contains(key) {
            used.insert(key.to_string());
        }
        Some(entry)
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.cache.read().apps.get(id).cloned()
    }

    /// Before a key is refused as unknown: waits for a reload that started after this call, so a
    /// key made a moment ago on another node (or with the CLI) is found.
    pub async fn look_for_key(&self, key: &str) {
        if !self.cache.read().keys.contains_key(key) {
            self.catch_up().await;
        }
    }

    /// As `look_for_key`, for an app id.
    pub async fn look_for_app(&self, id: &str) {
        if !self.cache.read().apps.contains_key(id) {
            self.catch_up().await;
        }
    }

    /// Asks the refresher for a reload that starts after now and waits until it has run (or
    /// `CATCH_UP_DEADLINE` passed, or no refresher runs). Concurrent callers share one reload.
    async fn catch_up(&self) {
        let wanted = self.reloads_started.load(Ordering::Acquire) + 1;
        let mut done = self.reloads_done.subscribe();
        self.nudge.notify_one();
        let _ = tokio::time::timeout(CATCH_UP_DEADLINE, done.wait_for(|n| *n >= wanted)).await;
    }

    /// The ids of every app.
    pub fn app_ids(&self) -> Vec<String> {
        self.cache.read().apps.keys().cloned().collect()
    }

    pub fn tenant(&self, id: &str) -> Option<Arc<Tenant>> {
        self.cache.read().tenants.get(id).cloned()
    }

    /// True when the last contact with the store succeeded.
    pub fn store_reachable(&self) -> bool {
        self.store_ok.load(Ordering::Relaxed)
    }

    /// Replaces the cache with `snapshot`; returns what stopped being usable. A snapshot older than
    /// the cached one (two refreshes racing) is ignored, so the cache never goes back in time.
    pub fn replace(&self, snapshot: Snapshot) -> Revoked {
        if snapshot.revision < self.cache.read().revision {
            return Revoked::default();
        }
        let tenants: HashMap<String, Arc<Tenant>> = snapshot
            .tenants
            .into_iter()
            .map(|t| (t.id.clone(), Arc::new(t)))
            .collect();
        let mut next = Cache {
            revision: snapshot.revision,
            tenants,
            ..Default::default()
        };
        let at = unix_secs();
        for entry in snapshot.apps {
            let mut app = entry.app;
            // A suspended tenant's apps behave as disabled apps: 4003 on connect, 403 on publish.
            let suspended = next
                .tenants
                .get(&app.tenant_id)
                .is_none_or(|t| t.status == TenantStatus::Suspended);
            app.settings.enabled &= !suspended;
            let app = Arc::new(app);
            for key in entry.keys.into_iter().filter(|k| k.is_active(at)) {
                let secret: Arc<str> = Arc::from(key.secret.unwrap_or_default().as_str());
                let e = KeyEntry {
                    key: Arc::from(key.key.as_str()),
                    secret,
                    expires_at: key.expires_at,
                    app: app.clone(),
                };
                next.keys.insert(key.key, e);
            }
            next.apps.insert(app.id.clone(), app);
        }
        let old = std::mem::replace(&mut *self.cache.write(), Arc::new(next));
        let new = self.cache.read().clone();
        Revoked {
            keys: old
                .keys
                .keys()
                .filter(|k| !new.keys.contains_key(*k))
                .cloned()
                .collect(),
            apps: old
                .apps
                .iter()
                .filter(|(id, a)| a.settings.enabled && new.apps.get(*id).is_none_or(|n| !n.settings.enabled))
                .map(|(id, _)| id.clone())
                .collect(),
        }
    }

    /// Reloads when the store's revision moved; `None` when nothing changed.
    pub async fn refresh(&self, store: &dyn ControlStore) -> Result<Option<Revoked>, StoreError> {
        let result = self.try_refresh(store).await;
        self.store_ok.store(result.is_ok(), Ordering::Relaxed);
        result
    }

    async fn try_refresh(&self, store: &dyn ControlStore) -> Result<Option<Revoked>, StoreError> {
        let current = self.cache.read().revision;
        if current != 0 && store.revision().await? == current {
            return Ok(None);
        }
        Ok(Some(self.replace(store.snapshot().await?)))
    }

    /// Polls the store every `interval` until shutdown, handing revocations to `on_revoked`, and
    /// writes key usage (`last_used_at`) about every ten seconds.
    pub fn spawn_refresher(
        self: Arc<Self>,
        store: Arc<dyn ControlStore>,
        interval: Duration,
        shutdown: Shutdown,
        on_revoked: impl Fn(Revoked) + Send + 'static,
    ) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut flushed = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = shutdown.stopping() => return,
                    _ = tick.tick() => {}
                    _ = self.nudge.notified() => {}
                }
                let started = self.reloads_started.fetch_add(1, Ordering::AcqRel) + 1;
                let result = self.refresh(store.as_ref()).await;
                match result {
                    Ok(Some(revoked)) => {
                        tracing::info!(
                            revoked_keys = revoked.keys.len(),
                            disabled_apps = revoked.apps.len(),
                            "control data reloaded"
                        );
                        on_revoked(revoked);
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(error = %e, "store unreachable; serving the cached apps and keys"),
                }
                // only now: whoever waited for this reload finds its revocations carried out
                self.reloads_done.send_replace(started);
                if flushed.elapsed() >= USAGE_FLUSH_EVERY {
                    flushed = tokio::time::Instant::now();
                    self.flush_usage(store.as_ref()).await;
                }
            }
        });
    }

    async fn flush_usage(&self, store: &dyn ControlStore) {
        let used: Vec<String> = self.used_keys.lock().drain().collect();
        if !used.is_empty() {
            if let Err(e) = store.touch_keys(&used, unix_secs()).await {
                tracing::debug!(error = %e, "could not record key usage");
            }
        }
    }
}
