//! Building and running a node: the one function both `main` and the tests go through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::apps::AppDirectory;
use crate::bus::LocalBus;
use crate::config::Config;
use crate::history::MemoryHistory;
use crate::hub::Hub;
use crate::publish::Publisher;
use crate::shutdown::Shutdown;
use crate::state::AppState;
use crate::store::{App, ControlStore, NewApp, SqliteStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
}

/// Opens the control store the configuration selects (the embedded SQLite file for now).
pub async fn open_store(config: &Config) -> Result<Arc<dyn ControlStore>, StartupError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| StartupError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    Ok(Arc::new(SqliteStore::open(&config.data_dir).await?))
}

/// A node, bound and ready to serve.
pub struct Application {
    listener: TcpListener,
    state: AppState,
    /// The app created because the store was empty, to show its credentials once.
    pub created_default_app: Option<App>,
}

impl Application {
    pub async fn build(config: Config, shutdown: Shutdown) -> Result<Self, StartupError> {
        let store = open_store(&config).await?;
        let created_default_app = if store.list_apps().await?.is_empty() {
            Some(
                store
                    .create_app(NewApp {
                        name: "default".into(),
                        ..Default::default()
                    })
                    .await?,
            )
        } else {
            None
        };
        let apps = Arc::new(AppDirectory::default());
        apps.refresh(store.as_ref()).await?;
        apps.clone().spawn_refresher(
            store.clone(),
            Duration::from_millis(config.app_refresh_ms.max(50)),
            shutdown.clone(),
        );
        let hub = Arc::new(Hub::new(apps.clone()));
        spawn_cache_sweeper(hub.clone(), shutdown.clone());
        let bus = Arc::new(LocalBus::new(hub.clone()));
        let history = Arc::new(MemoryHistory::new(config.history_size));
        let publisher = Arc::new(Publisher::new(history, bus));
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartupError::Listen {
                    addr: config.listen,
                    source,
                })?;
        let state = AppState {
            config: Arc::new(config),
            apps,
            hub,
            publisher,
            store,
            shutdown,
        };
        Ok(Application {
            listener,
            state,
            created_default_app,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until shutdown, then waits (bounded) for WebSocket sessions to close with 4200.
    pub async fn run(self) -> Result<(), StartupError> {
        let shutdown = self.state.shutdown.clone();
        let grace = Duration::from_secs(self.state.config.shutdown_grace);
        let router = crate::http::router(self.state);
        let stopping = shutdown.clone();
        axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move { stopping.stopping().await })
        .await?;
        if !shutdown.drain(grace).await {
            tracing::warn!("some sessions did not close within the shutdown grace period");
        }
        Ok(())
    }
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
