//! Building and running a node: the one function both `main` and the tests go through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::admin::AdminAuth;
use crate::apps::AppDirectory;
use crate::cluster::ClusterError;
use crate::config::Config;
use crate::http::starting::{answer_while, StartingStatus};
use crate::http::tls::{Certificate, Peers, TlsError};
use crate::hub::{Hub, Observers};
use crate::lifecycle::LifecycleLog;
use crate::metrics::Metrics;
use crate::nodes::LocalNode;
use crate::open_store::{open_store, OpenError, OpenMode};
use crate::per_app::PerAppCounter;
use crate::protocol::CloseCode;
use crate::publish::Publisher;
use crate::quota::DailyQuota;
use crate::shutdown::Shutdown;
use crate::state::{AppState, SharedState};
use crate::store::{Actor, AppWithKeys, ControlStore, NewApp, StoreError, Tenant, TenantLimits};
use crate::topology::Topology;
use crate::webhooks::egress::EgressPolicy;
use crate::webhooks::{RetrySchedule, Webhooks};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error("cannot open the history journal: {0}")]
    History(#[source] std::io::Error),
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

/// The tenant that apps created without `--tenant` belong to.
pub const DEFAULT_TENANT: &str = "default";

/// The default tenant, created on first use.
pub async fn default_tenant(store: &dyn ControlStore) -> Result<Tenant, StoreError> {
    match store.tenant_by_slug(DEFAULT_TENANT).await {
        Ok(t) => Ok(t),
        Err(StoreError::NotFound(_)) => {
            let created = store
                .create_tenant("Default", DEFAULT_TENANT, TenantLimits::default(), &Actor::system())
                .await;
            match created {
                // Another process made it in between: it is there now.
                Err(StoreError::Duplicate(_)) => store.tenant_by_slug(DEFAULT_TENANT).await,
                other => other,
            }
        }
        Err(e) => Err(e),
    }
}

/// A node, bound and ready to serve.
pub struct Application {
    /// The port the node's HTTP server accepts on (a loopback one behind the TLS front with TLS).
    listener: TcpListener,
    /// With TLS: the public port's listener, the certificate, and the relayed connections' clients.
    tls: Option<TlsFront>,
    /// `/metrics` on a port of its own (`metrics_listen`), when configured.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    /// The app created because the store was empty, to show its credentials once.
    pub created_default_app: Option<AppWithKeys>,
    /// No admin exists yet: nobody can sign in to the console until one is created (CLI).
    pub needs_owner: bool,
}

impl Application {
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartupError> {
        // Bound first: while the store is opened (a database may take a while to answer), the port
        // already says what the node waits for.
        let addr = config.server.listen;
        let public = listen(addr).map_err(|source| StartupError::Listen { addr, source })?;
        let (listener, tls) = match &config.server.tls {
            None => (public, None),
            Some(files) => {
                let certificate = Certificate::load(&files.cert, &files.key)?;
                let internal = SocketAddr::from(([127, 0, 0, 1], 0));
                let plain = listen(internal).map_err(|source| StartupError::Listen { addr: internal, source })?;
                let front = TlsFront {
                    public,
                    certificate,
                    peers: Peers::default(),
                };
                (plain, Some(front))
            }
        };
        let status = StartingStatus::default();
        *status.lock() = "opening the control store".into();
        let report = |why: &str| *status.lock() = why.to_string();
        let opening = open_store(&config.store, false, OpenMode::CreateIfMissing, &report);
        let sql = answer_while(&listener, status.clone(), opening).await?;
        let admin = Arc::new(AdminAuth::new(&sql.secrets().derive("herald admin JWT")));
        let store: Arc<dyn ControlStore> = sql;
        let created_default_app = create_default_app(store.as_ref()).await?;
        let needs_owner = store.list_admins(None).await?.is_empty();
        let apps = Arc::new(AppDirectory::default());
        apps.refresh(store.as_ref()).await?;
        let node_id: Arc<str> = Arc::from(uuid::Uuid::new_v4().simple().to_string());
        let topology = Topology::connect(&config, &node_id).await?;

        let event_store = topology.event_store(&config, store.clone());
        let metrics = Arc::new(Metrics::default());
        let previews = config.log.payload_previews;
        let events = Arc::new(LifecycleLog::new(&node_id, event_store, metrics, previews));
        let retry = RetrySchedule::after(config.webhooks.retry_base);
        let egress = EgressPolicy {
            allowed: config.webhooks.allowed_networks.clone(),
        };
        let webhook_log = Some(events.clone());
        let webhooks = Webhooks::start_with(
            apps.clone(),
            store.clone(),
            shutdown.clone(),
            retry,
            egress,
            webhook_log,
        );
        let observers = Arc::new(Observers::new(webhooks, topology.decides()));
        let hub = Arc::new(Hub::new(apps.clone(), observers, topology.hub_events()));
        let accepted = Arc::new(PerAppCounter::default());
        let local = Arc::new(LocalNode::new(node_id.clone(), hub.clone(), accepted.clone()));
        crate::stats::spawn_sampler(
            local.clone(),
            apps.clone(),
            store.clone(),
            config.stats.retention,
            shutdown.clone(),
        );
        let (bus, nodes) = topology
            .join(&hub, local, &config, &shutdown)
            .map_err(StartupError::History)?;
        let publisher = Arc::new(Publisher::new(bus, accepted));

        let revoked_hub = hub.clone();
        let refresh = config.store.app_refresh;
        apps.clone()
            .spawn_refresher(store.clone(), refresh, shutdown.clone(), move |r| {
                revoked_hub.close_revoked(&r)
            });
        spawn_cache_sweeper(hub.clone(), shutdown.clone());
        crate::housekeeping::spawn(store.clone(), config.store.audit_retention, shutdown.clone());
        spawn_session_closer(hub.clone(), shutdown.clone());
        let metrics_listener = match config.server.metrics_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartupError::Listen { addr, source })?,
            ),
            None => None,
        };
        let state = AppState::new(SharedState {
            config: Arc::new(config),
            apps,
            hub,
            publisher,
            store,
            shutdown,
            quota: Arc::new(DailyQuota::default()),
            admin,
            nodes,
            node_id,
            events,
        });
        Ok(Application {
            listener,
            tls,
            metrics_listener,
            state,
            created_default_app,
            needs_owner,
        })
    }

    /// The public address (the TLS front's with TLS).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.tls {
            Some(front) => front.public.local_addr(),
            None => self.listener.local_addr(),
        }
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        match self.tls {
            Some(_) => "https",
            None => "http",
        }
    }

    /// Serves until shutdown, then waits (bounded) for WebSocket sessions to close with 4200.
    pub async fn run(self) -> Result<(), StartupError> {
        let shutdown = self.state.shutdown.clone();
        let grace = self.state.config.server.shutdown_grace;
        if let Some(listener) = self.metrics_listener {
            let (router, stop) = (crate::http::metrics_router(self.state.clone()), shutdown.clone());
            tokio::spawn(async move {
                let stopping = async move { stop.stopping().await };
                let _ = axum::serve(listener, router).with_graceful_shutdown(stopping).await;
            });
        }
        let relayed = match self.tls {
            Some(front) => {
                let plain = self.listener.local_addr()?;
                let peers = front.peers.clone();
                let stop = shutdown.clone();
                tokio::spawn(crate::http::tls::run_front(
                    front.public,
                    plain,
                    front.certificate,
                    front.peers,
                    stop,
                ));
                Some(peers)
            }
            None => None,
        };
        let event_store = self.state.events.store().clone();
        let router = crate::http::router(self.state);
        let stopped = crate::http::serve(self.listener, router, relayed, shutdown.clone(), grace).await;
        // Sessions and HTTP requests drain within the same grace period.
        if !shutdown.drain(grace.saturating_sub(stopped.elapsed())).await {
            tracing::warn!("some sessions did not close within the shutdown grace period");
        }
        // The closes the drain just logged are kept before the process exits.
        let kept = tokio::time::timeout(LAST_EVENTS_WAIT, event_store.flush()).await;
        if kept.is_err() {
            tracing::warn!("the last lifecycle events may not be kept: the event store did not take them in time");
        }
        Ok(())
    }
}

/// The public port of a node with TLS.
struct TlsFront {
    public: TcpListener,
    certificate: Arc<Certificate>,
    peers: Peers,
}

/// On a store with no app and no tenant but the default one, creates the default app.
/// Nodes starting together on one empty store make one app between them.
async fn create_default_app(store: &dyn ControlStore) -> Result<Option<AppWithKeys>, StoreError> {
    let new = NewApp {
        name: "default".into(),
        ..Default::default()
    };
    store
        .create_first_app(("Default", DEFAULT_TENANT), new, &Actor::system())
        .await
}

/// Connections that may wait to be accepted (the kernel caps it at `net.core.somaxconn`): in a
/// reconnect storm, when the clients of a node that went away all come back at once, they wait in
/// the queue instead of having their handshakes dropped (tokio's `bind` queues 1,024).
const ACCEPT_BACKLOG: u32 = 8192;

/// How long a stopping node waits, after its sessions have closed, for the lifecycle log to keep
/// their closes.
const LAST_EVENTS_WAIT: Duration = Duration::from_secs(3);

/// A listener on `addr` with the accept queue a reconnect storm needs.
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    // As tokio's `bind` does: a restarted node takes its port back while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// On shutdown, every connection of this node is closed with 4200 (its client reconnects elsewhere).
fn spawn_session_closer(hub: Arc<Hub>, shutdown: Shutdown) {
    tokio::spawn(async move {
        shutdown.stopping().await;
        hub.close_all(CloseCode::Reconnect, CloseCode::Reconnect.message());
    });
}

fn spawn_cache_sweeper(hub: Arc<Hub>, shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.stopping() => return,
                _ = tick.tick() => hub.sweep(),
            }
        }
    });
}
