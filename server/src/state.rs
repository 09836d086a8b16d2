//! The state every handler shares, as an `axum::extract::State`.
//!
//! Built once by `startup`; whether this node is alone or in a cluster is already decided in what it
//! holds (`bus`, `nodes`), so no handler asks.

use std::ops::Deref;
use std::sync::Arc;

use crate::admin::AdminAuth;
use crate::apps::AppDirectory;
use crate::config::Config;
use crate::hub::Hub;
use crate::lifecycle::LifecycleLog;
use crate::nodes::Nodes;
use crate::publish::Publisher;
use crate::quota::DailyQuota;
use crate::shutdown::Shutdown;
use crate::store::ControlStore;

/// The shared state behind one reference count: axum clones the state for a request's router and
/// extractors, and a clone of the fields themselves was a dozen atomic increments (and as many
/// decrements) each time.
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl AppState {
    pub fn new(shared: SharedState) -> Self {
        AppState(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What every handler shares.
pub struct SharedState {
    pub config: Arc<Config>,
    pub apps: Arc<AppDirectory>,
    pub hub: Arc<Hub>,
    pub publisher: Arc<Publisher>,
    pub store: Arc<dyn ControlStore>,
    pub shutdown: Shutdown,
    pub quota: Arc<DailyQuota>,
    pub admin: Arc<AdminAuth>,
    /// What only every node together can answer: this node's hub, or the whole cluster's.
    pub nodes: Arc<dyn Nodes>,
    /// This node's id (the cluster's name for it).
    pub node_id: Arc<str>,
    /// The lifecycle log (connections, subscriptions, publishes, webhooks).
    pub events: Arc<LifecycleLog>,
}
