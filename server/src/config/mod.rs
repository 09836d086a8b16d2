//! Configuration: `Settings` as written (built-in defaults, then a TOML file, then `HERALD_*`
//! environment variables, then flags; flat keys, as documented), and `Config`, what a node runs on:
//! grouped by concern, with durations as `Duration`s and proxy ranges parsed, validated once by
//! `Settings::validate`, which refuses nonsense with a message naming the key. Secrets are never
//! part of `Debug` output or logs.

mod settings;

pub use settings::{HistoryStorageKind, LogFormat, Overrides, Secret, Settings};

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::history::{HistoryBudget, HistoryStorage};

/// Everything a node needs to start, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub websocket: WebSocketConfig,
    pub store: StoreConfig,
    /// `None` on a single node.
    pub cluster: Option<ClusterConfig>,
    pub event_log: EventLogConfig,
    pub webhooks: WebhookConfig,
    /// Ceilings over what apps may set.
    pub app_ceilings: AppCeilings,
    /// Memory the embedded history may hold (a single node; a cluster's history is in JetStream).
    pub history_budget: HistoryBudget,
    /// Where a single node's history lives (memory, or memory and a journal on disk).
    pub history_storage: HistoryStorage,
    pub stats: StatsConfig,
    pub log: LogConfig,
}

/// The one port and what guards it.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// WebSocket, HTTP API, admin API, console and health checks.
    pub listen: SocketAddr,
    /// Connections on this node (4100 above it); 0 means unlimited.
    pub max_connections: usize,
    /// Connections on this node from one client address (4100 above it); 0 means unlimited.
    pub max_connections_per_address: usize,
    /// How long sessions get to close on shutdown.
    pub shutdown_grace: Duration,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Serve the console from this directory instead of the embedded copy.
    pub console_dir: Option<PathBuf>,
    /// How long a request body may take to arrive (plus a second per 8 KiB it announces).
    pub request_body_timeout: Duration,
    /// A port of its own for `/metrics` (then the public port does not answer it).
    pub metrics_listen: Option<SocketAddr>,
    /// TLS on the one port (`wss://`, `https://`), when a certificate is given.
    pub tls: Option<TlsFiles>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What each WebSocket connection gets.
#[derive(Debug, Clone)]
pub struct WebSocketConfig {
    /// Silence before the server pings (sent to clients as `activity_timeout`).
    pub activity_timeout: Duration,
    /// Wait for a pong before closing with 4201.
    pub pong_timeout: Duration,
    /// Frames queued per connection before it is closed as too slow (4100).
    pub outbound_queue: usize,
    /// Largest message from a client, in bytes.
    pub max_message_bytes: usize,
    /// Channels one connection may be subscribed to at once.
    pub max_subscriptions: usize,
}

/// The control store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub data_dir: PathBuf,
    /// Postgres; `None` means the embedded SQLite file in `data_dir`.
    pub database_url: Option<Secret>,
    pub master_key: Option<Secret>,
    /// A file holding the master key (a mounted secret), when `master_key` is not set.
    pub master_key_file: Option<PathBuf>,
    pub migrate: bool,
    /// How long a starting node or command waits for a database that does not answer.
    pub database_wait: Duration,
    /// How long audit entries are kept.
    pub audit_retention: Duration,
    /// How often a node checks the store for changed tenants, apps and keys.
    pub app_refresh: Duration,
}

/// Cluster membership: present when `nats_url` is set.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// One or more NATS URLs.
    pub nats_urls: Vec<String>,
    pub prefix: String,
    /// Silence after which a node counts as dead.
    pub node_timeout: Duration,
    /// The message stream's limits.
    pub history: HistoryConfig,
}

/// What the cluster's message stream keeps.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// Streams the channels are spread over (`message_shards`), each with its own leader.
    pub shards: usize,
    pub max_messages_per_channel: i64,
    pub max_age: Duration,
    pub dedup_window: Duration,
    pub replicas: usize,
    /// How long after its first message since the last trim a channel is trimmed to its app's
    /// count (`history_trim_after`).
    pub trim_after: Duration,
}

/// The lifecycle log's retention.
#[derive(Debug, Clone)]
pub struct EventLogConfig {
    pub max_events: usize,
    pub max_age: Duration,
    pub max_bytes: i64,
}

#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// The first retry's delay; each later one doubles.
    pub retry_base: Duration,
    /// Internal networks webhooks may reach nonetheless (loopback, private, link-local … are
    /// refused otherwise).
    pub allowed_networks: Vec<IpNet>,
}

/// The operator's ceilings over per-app settings: a tenant admin cannot set more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCeilings {
    /// Highest `max_connections` (0: no ceiling; with one, "unlimited" is refused too).
    pub connections: u32,
    pub client_event_rate: u32,
    pub presence_members: u32,
    pub presence_member_bytes: u32,
    pub payload_bytes: u32,
    pub cache_ttl: u32,
    pub history_messages: u32,
    pub history_age: u32,
    pub idempotency_window: u32,
}

impl Default for AppCeilings {
    fn default() -> Self {
        AppCeilings {
            connections: 0,
            client_event_rate: 100,
            presence_members: 1_000,
            presence_member_bytes: 10 * 1024,
            payload_bytes: 1024 * 1024,
            cache_ttl: 24 * 3600,
            history_messages: 10_000,
            history_age: 7 * 24 * 3600,
            idempotency_window: 24 * 3600,
        }
    }
}

/// The per-app stats series (the console's charts).
#[derive(Debug, Clone)]
pub struct StatsConfig {
    /// How long minutes are kept.
    pub retention: Duration,
}

#[derive(Debug, Clone)]
pub struct LogConfig {
    /// A `tracing` filter.
    pub filter: String,
    pub format: LogFormat,
    /// Whether the process log shows the start of published payloads (the lifecycle log keeps
    /// them per app, as the app's `log_payload_previews` says).
    pub payload_previews: bool,
}

/// A setting that makes no sense, named by its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid setting `{key}` (HERALD_{env}): {message}")]
pub struct ConfigError {
    pub key: &'static str,
    env: String,
    pub message: String,
}

impl ConfigError {
    pub(crate) fn new(key: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            key,
            env: key.to_ascii_uppercase(),
            message: message.into(),
        }
    }
}

/// Why the configuration cannot be used: unreadable layers or a value that makes no sense.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Layers(#[from] Box<figment::Error>),
    #[error(transparent)]
    Invalid(#[from] ConfigError),
}

impl Config {
    /// Loads the layers in order (defaults, `file`, `HERALD_*`, `overrides`) and validates them.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, LoadError> {
        Ok(Settings::load(file, overrides)?.validate()?)
    }

    /// True when `peer` is one of the trusted proxies.
    pub fn is_trusted_proxy(&self, peer: IpAddr) -> bool {
        self.server.trusted_proxies.iter().any(|net| net.contains(&peer))
    }

    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last address in
    /// `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_address(&self, peer: IpAddr, forwarded: Option<&str>) -> IpAddr {
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        let hops = forwarded.unwrap_or("").split(',').rev();
        let mut addresses = hops.filter_map(|h| h.trim().parse::<IpAddr>().ok());
        addresses.find(|a| !self.is_trusted_proxy(*a)).unwrap_or(peer)
    }
}

impl Default for Config {
    /// The built-in defaults (a single node on 127.0.0.1:6001).
    fn default() -> Self {
        Settings::default()
            .validate()
            .unwrap_or_else(|e| unreachable!("the built-in settings are valid: {e}"))
    }
}
