//! `Settings`: the configuration as written, one flat key per setting (the TOML file's keys; the
//! environment variable is `HERALD_` + the key in upper case), layered: built-in defaults, then a
//! TOML file (`--config`), then `HERALD_*` environment variables, then command-line flags.
//! `validate` turns them into the typed `Config` or names the key that makes no sense.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::IpNet;

use crate::history::{Fsync, HistoryBudget, HistoryStorage};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use super::{
    AppCeilings, ClusterConfig, Config, ConfigError, EventLogConfig, HistoryConfig, LogConfig, ServerConfig,
    StatsConfig, StoreConfig, TlsFiles, WebSocketConfig, WebhookConfig,
};

/// How the process log is written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Most message shards a cluster may have.
const MAX_MESSAGE_SHARDS: usize = 64;

/// Where a single node keeps its channel history.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HistoryStorageKind {
    /// In memory and in a journal under `data_dir/history`: kept through restarts.
    Disk,
    /// In memory only: a restart starts a new epoch.
    Memory,
}

/// A configuration value that must never be printed (it shows as `"***"` in `Debug`).
#[derive(Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Every setting, as written.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address of the one port serving WebSocket, HTTP API and health checks.
    pub listen: SocketAddr,
    /// Where the embedded store keeps its files (and the generated master key).
    pub data_dir: PathBuf,
    /// `postgres://…` selects Postgres for the control store; unset means the embedded SQLite file.
    pub database_url: Option<Secret>,
    /// Base64 of 32 bytes; encrypts app secrets at rest. Unset: generated into the data directory.
    pub master_key: Option<Secret>,
    /// A file holding the master key (e.g. a mounted secret), read when `master_key` is not set.
    pub master_key_file: Option<PathBuf>,
    /// Run database migrations on start.
    pub migrate: bool,
    /// Seconds to keep retrying a control database that does not answer at start.
    pub database_wait: u64,
    /// Bytes of messages the embedded history may keep in all, and per app (past them the oldest
    /// go first; the largest app's when the node is over).
    pub history_memory_bytes: usize,
    pub history_app_memory_bytes: usize,
    /// Single node: `disk` (a journal in `data_dir/history`, restored on start) or `memory`.
    pub history_storage: HistoryStorageKind,
    /// When the journal is forced to the disk: `always` (before each publish is answered),
    /// `every_second`, or `never` (the operating system decides). A killed process loses nothing
    /// either way; a power cut loses at most the last second with `every_second`.
    pub history_fsync: Fsync,
    /// A PEM certificate chain and its key: the port then serves TLS (`wss://`, `https://`),
    /// reloaded on SIGHUP and when the files change.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Serve `/metrics` on this address only (e.g. 127.0.0.1:9090), not on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    /// Channels one connection may be subscribed to at once (a refused subscribe gets a
    /// `pusher:error` saying so).
    pub max_subscriptions_per_connection: usize,
    /// Seconds a request body may take to arrive (plus one per 8 KiB it announces); 408 after.
    pub request_body_timeout: u64,
    /// Seconds audit entries are kept (pruned hourly).
    pub audit_retention: u64,
    /// Seconds of client silence before the server pings (sent to clients as `activity_timeout`).
    pub activity_timeout: u64,
    /// Seconds to wait for a pong before closing with 4201.
    pub pong_timeout: u64,
    /// Most connections on this node (4100 above it); 0 means unlimited.
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    /// Frames a connection may have queued before it is closed as too slow (4100).
    pub outbound_queue: usize,
    /// Largest WebSocket message accepted from a client, in bytes (close 1009 above it).
    pub max_message_bytes: usize,
    /// Seconds to wait for sessions to close on shutdown.
    pub shutdown_grace: u64,
    /// How often apps are reloaded from the store, in milliseconds.
    pub app_refresh_ms: u64,
    /// Most messages the cluster's JetStream stream keeps per channel (apps keep at most this many).
    pub history_size: usize,
    /// Most seconds the cluster's stream keeps a message (apps keep at most this long).
    pub history_max_age: u64,
    /// Seconds after a channel's first message since it was last trimmed at which a cluster node
    /// trims it to its app's `history_max_messages` (reads show only those at once; this frees the
    /// store, which holds at most `history_size` per channel meanwhile).
    pub history_trim_after: u64,
    /// Seconds the cluster's stream remembers idempotency keys (an app's shorter window still applies
    /// on single nodes only).
    pub dedup_window: u64,
    /// Replicas of the cluster's stream (1 to 5; more need a NATS cluster).
    pub nats_replicas: usize,
    /// Message streams the cluster spreads channels over (1 to 64), each with its own leader; every
    /// node must have the same value (docs/scaling.md: how to change it).
    pub message_shards: usize,
    /// NATS URLs (comma-separated) that make this node a cluster member; unset means a single node.
    pub nats_url: Option<Secret>,
    /// Prefix of every NATS subject of this cluster (several clusters can share a NATS).
    pub nats_prefix: String,
    /// Seconds without a heartbeat after which a node counts as dead and its presence members go.
    pub node_timeout: u64,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client's address.
    #[serde(deserialize_with = "list")]
    pub trusted_proxies: Vec<String>,
    /// Lifecycle events kept per app (embedded mode; cluster mode caps the stream by `event_log_max_bytes`).
    pub event_log_max_events: usize,
    /// Seconds lifecycle events are kept.
    pub event_log_max_age: u64,
    /// Bytes the cluster's lifecycle event stream may hold.
    pub event_log_max_bytes: i64,
    /// Milliseconds before a failed webhook is tried again; each later retry waits twice as long
    /// (ten attempts in all: with the default of 1000, over 8 minutes of retries).
    pub webhook_retry_base_ms: u64,
    /// Internal networks (CIDR ranges) webhooks may reach nonetheless; by default loopback, private,
    /// link-local, shared, multicast and reserved addresses are refused.
    #[serde(deserialize_with = "list")]
    pub webhook_allowed_networks: Vec<String>,
    /// Ceilings over per-app settings (a tenant admin's PATCH above one is refused naming it).
    /// `ceiling_connections` 0 means none.
    pub ceiling_connections: u32,
    pub ceiling_client_event_rate: u32,
    pub ceiling_presence_members: u32,
    pub ceiling_presence_member_bytes: u32,
    pub ceiling_payload_bytes: u32,
    pub ceiling_cache_ttl: u32,
    pub ceiling_history_messages: u32,
    pub ceiling_history_age: u32,
    pub ceiling_idempotency_window: u32,
    /// Show the start of published payloads in the process log (off: they stay in the lifecycle log
    /// of apps that allow previews).
    pub log_payload_previews: bool,
    /// Seconds the per-app stats series (one row per app, node and minute) is kept.
    pub stats_retention: u64,
    /// Serve the web console from this directory, read on every request, instead of the copy
    /// embedded at build time (for working on the console without rebuilding).
    pub console_dir: Option<PathBuf>,
    /// `tracing` filter, e.g. `info` or `herald=debug`.
    pub log: String,
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        let ceilings = AppCeilings::default();
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 6001)),
            data_dir: PathBuf::from("herald-data"),
            database_url: None,
            master_key: None,
            master_key_file: None,
            migrate: true,
            database_wait: 60,
            audit_retention: 365 * 24 * 3600,
            request_body_timeout: 10,
            max_subscriptions_per_connection: 1000,
            metrics_listen: None,
            tls_cert: None,
            tls_key: None,
            history_memory_bytes: HistoryBudget::default().node_bytes,
            history_app_memory_bytes: HistoryBudget::default().app_bytes,
            history_storage: HistoryStorageKind::Disk,
            history_fsync: Fsync::EverySecond,
            activity_timeout: 120,
            pong_timeout: 30,
            max_connections: 0,
            max_connections_per_address: 0,
            outbound_queue: 1024,
            max_message_bytes: 256 * 1024,
            shutdown_grace: 10,
            app_refresh_ms: 500,
            history_size: 1000,
            history_max_age: 24 * 3600,
            history_trim_after: 60,
            dedup_window: 120,
            nats_replicas: 1,
            message_shards: 1,
            nats_url: None,
            nats_prefix: "herald".into(),
            node_timeout: 10,
            trusted_proxies: Vec::new(),
            event_log_max_events: 10_000,
            event_log_max_age: 24 * 3600,
            event_log_max_bytes: 256 * 1024 * 1024,
            webhook_retry_base_ms: 1000,
            webhook_allowed_networks: Vec::new(),
            ceiling_connections: ceilings.connections,
            ceiling_client_event_rate: ceilings.client_event_rate,
            ceiling_presence_members: ceilings.presence_members,
            ceiling_presence_member_bytes: ceilings.presence_member_bytes,
            ceiling_payload_bytes: ceilings.payload_bytes,
            ceiling_cache_ttl: ceilings.cache_ttl,
            ceiling_history_messages: ceilings.history_messages,
            ceiling_history_age: ceilings.history_age,
            ceiling_idempotency_window: ceilings.idempotency_window,
            log_payload_previews: false,
            stats_retention: 7 * 24 * 3600,
            console_dir: None,
            log: "info".into(),
            log_format: LogFormat::Pretty,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

impl Settings {
    /// Loads the layers in order: defaults, `file`, `HERALD_*`, `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only known keys come from the environment, so unrelated `HERALD_*` variables (a test
        // harness's `HERALD_BIN`, say) do not trip `deny_unknown_fields`.
        let known = known_keys();
        let env = Env::prefixed("HERALD_").filter(move |key| known.iter().any(|k| key == k.as_str()));
        let mut config: Settings = figment
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        // An empty URL (`HERALD_NATS_URL=` in a compose file, say) means the same as none.
        for url in [&mut config.database_url, &mut config.nats_url, &mut config.master_key] {
            if url.as_ref().is_some_and(|u| u.0.trim().is_empty()) {
                *url = None;
            }
        }
        Ok(config)
    }
}

impl Settings {
    /// The typed configuration, or the first setting that makes no sense. Values below a documented
    /// minimum are raised to it (`app_refresh_ms` 50, `node_timeout` 2).
    pub fn validate(self) -> Result<Config, ConfigError> {
        let positive = |key: &'static str, value: u64| match value {
            0 => Err(ConfigError::new(key, "must be at least 1")),
            v => Ok(v),
        };
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| parse_network("trusted_proxies", p))
            .collect::<Result<Vec<_>, _>>()?;
        if self.max_message_bytes < 1024 {
            return Err(ConfigError::new("max_message_bytes", "must be at least 1024"));
        }
        if !(1..=5).contains(&self.nats_replicas) {
            return Err(ConfigError::new("nats_replicas", "must be 1 to 5"));
        }
        if !(1..=MAX_MESSAGE_SHARDS).contains(&self.message_shards) {
            let message = format!("must be 1 to {MAX_MESSAGE_SHARDS}");
            return Err(ConfigError::new("message_shards", message));
        }
        if self.event_log_max_bytes <= 0 {
            return Err(ConfigError::new("event_log_max_bytes", "must be at least 1"));
        }
        let cluster = match self.nats_url {
            None => None,
            Some(urls) => Some(ClusterConfig {
                nats_urls: parse_nats_urls(&urls.0)?,
                prefix: check_prefix(self.nats_prefix)?,
                node_timeout: Duration::from_secs(self.node_timeout.max(2)),
                history: HistoryConfig {
                    shards: self.message_shards,
                    max_messages_per_channel: positive("history_size", self.history_size as u64)? as i64,
                    max_age: Duration::from_secs(positive("history_max_age", self.history_max_age)?),
                    dedup_window: Duration::from_secs(positive("dedup_window", self.dedup_window)?),
                    replicas: self.nats_replicas,
                    trim_after: Duration::from_secs(positive("history_trim_after", self.history_trim_after)?),
                },
            }),
        };
        Ok(Config {
            server: ServerConfig {
                listen: self.listen,
                max_connections: self.max_connections,
                max_connections_per_address: self.max_connections_per_address,
                shutdown_grace: Duration::from_secs(self.shutdown_grace),
                trusted_proxies,
                console_dir: self.console_dir,
                request_body_timeout: Duration::from_secs(positive("request_body_timeout", self.request_body_timeout)?),
                metrics_listen: self.metrics_listen,
                tls: match (self.tls_cert, self.tls_key) {
                    (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                    (None, None) => None,
                    _ => {
                        return Err(ConfigError::new(
                            "tls_cert",
                            "tls_cert and tls_key go together: give both or neither",
                        ))
                    }
                },
            },
            websocket: WebSocketConfig {
                activity_timeout: Duration::from_secs(positive("activity_timeout", self.activity_timeout)?),
                pong_timeout: Duration::from_secs(positive("pong_timeout", self.pong_timeout)?),
                outbound_queue: positive("outbound_queue", self.outbound_queue as u64)? as usize,
                max_message_bytes: self.max_message_bytes,
                max_subscriptions: positive(
                    "max_subscriptions_per_connection",
                    self.max_subscriptions_per_connection as u64,
                )? as usize,
            },
            store: StoreConfig {
                data_dir: self.data_dir.clone(),
                database_url: self.database_url,
                master_key: self.master_key,
                master_key_file: self.master_key_file,
                migrate: self.migrate,
                database_wait: Duration::from_secs(self.database_wait),
                audit_retention: Duration::from_secs(positive("audit_retention", self.audit_retention)?),
                app_refresh: Duration::from_millis(self.app_refresh_ms.max(50)),
            },
            cluster,
            event_log: EventLogConfig {
                max_events: positive("event_log_max_events", self.event_log_max_events as u64)? as usize,
                max_age: Duration::from_secs(self.event_log_max_age),
                max_bytes: self.event_log_max_bytes,
            },
            webhooks: WebhookConfig {
                retry_base: Duration::from_millis(positive("webhook_retry_base_ms", self.webhook_retry_base_ms)?),
                allowed_networks: self
                    .webhook_allowed_networks
                    .iter()
                    .map(|n| parse_network("webhook_allowed_networks", n))
                    .collect::<Result<_, _>>()?,
            },
            history_budget: HistoryBudget {
                node_bytes: positive("history_memory_bytes", self.history_memory_bytes as u64)? as usize,
                app_bytes: positive("history_app_memory_bytes", self.history_app_memory_bytes as u64)? as usize,
            },
            history_storage: match self.history_storage {
                HistoryStorageKind::Memory => HistoryStorage::Memory,
                HistoryStorageKind::Disk => HistoryStorage::Disk {
                    dir: self.data_dir.join("history"),
                    fsync: self.history_fsync,
                },
            },
            app_ceilings: AppCeilings {
                connections: self.ceiling_connections,
                client_event_rate: self.ceiling_client_event_rate,
                presence_members: self.ceiling_presence_members,
                presence_member_bytes: self.ceiling_presence_member_bytes,
                payload_bytes: self.ceiling_payload_bytes,
                cache_ttl: self.ceiling_cache_ttl,
                history_messages: self.ceiling_history_messages,
                history_age: self.ceiling_history_age,
                idempotency_window: self.ceiling_idempotency_window,
            },
            stats: StatsConfig {
                retention: Duration::from_secs(positive("stats_retention", self.stats_retention)?),
            },
            log: LogConfig {
                filter: self.log,
                format: self.log_format,
                payload_previews: self.log_payload_previews,
            },
        })
    }
}

/// A list, as TOML and JSON write it, or as one comma-separated string (`HERALD_X=a,b`).
fn list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(text) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

/// An address or a CIDR range, of setting `key`.
fn parse_network(key: &'static str, value: &str) -> Result<IpNet, ConfigError> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| {
            ConfigError::new(
                key,
                format!("{value:?} is neither an address nor a CIDR range (e.g. 10.0.0.0/8)"),
            )
        })
}

/// Comma-separated `nats://` (or `tls://`) URLs.
fn parse_nats_urls(value: &str) -> Result<Vec<String>, ConfigError> {
    let urls: Vec<String> = value
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string)
        .collect();
    if let Some(bad) = urls.iter().find(|u| u.contains(char::is_whitespace)) {
        return Err(ConfigError::new("nats_url", format!("{bad:?} is not a URL")));
    }
    Ok(urls)
}

/// A NATS subject token: letters, digits, `-` and `_`.
fn check_prefix(prefix: String) -> Result<String, ConfigError> {
    let valid = !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    match valid {
        true => Ok(prefix),
        false => Err(ConfigError::new(
            "nats_prefix",
            format!("{prefix:?}: use letters, digits, '-' and '_' only (it begins every NATS subject)"),
        )),
    }
}

fn known_keys() -> Vec<String> {
    // Optional keys serialize as null, so they are listed too.
    match serde_json::to_value(Settings::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail returns its own error type
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("herald.toml", "listen = \"127.0.0.1:7000\"\nactivity_timeout = 30\n")?;
            jail.set_env("HERALD_ACTIVITY_TIMEOUT", "45");
            jail.set_env("HERALD_BIN", "/not/a/setting");
            let cli = Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            };
            let config = Settings::load(Some(Path::new("herald.toml")), &cli).expect("loads");
            assert_eq!(config.listen.port(), 7000);
            assert_eq!(config.activity_timeout, 45);
            assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
            assert_eq!(config.pong_timeout, 30);
            jail.set_env("HERALD_NATS_URL", "");
            assert_eq!(
                Settings::load(None, &cli).expect("loads").nats_url,
                None,
                "empty is unset"
            );
            jail.set_env("HERALD_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7");
            let config = Settings::load(None, &cli).expect("loads");
            assert_eq!(
                config.trusted_proxies,
                vec!["10.0.0.0/8".to_string(), "192.168.1.7".to_string()]
            );
            jail.set_env("HERALD_TRUSTED_PROXIES", "[\"10.0.0.0/8\"]");
            assert_eq!(
                Settings::load(None, &cli).expect("loads").trusted_proxies,
                vec!["10.0.0.0/8".to_string()]
            );
            jail.set_env("HERALD_DATABASE_URL", "postgres://u:pw@h/db");
            let config = Settings::load(None, &cli).expect("loads");
            assert_eq!(config.database_url, Some(Secret("postgres://u:pw@h/db".into())));
            assert!(
                !format!("{config:?}").contains("pw@"),
                "secrets stay out of Debug output"
            );
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lissten = \"x\"\n")?;
            let err = Settings::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("lissten"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn defaults_validate_into_sections() {
        let config = Settings::default().validate().expect("defaults are valid");
        assert_eq!(config.server.listen.port(), 6001);
        assert_eq!(config.websocket.activity_timeout, Duration::from_secs(120));
        assert_eq!(config.store.app_refresh, Duration::from_millis(500));
        assert!(config.cluster.is_none(), "no nats_url: a single node");
        assert_eq!(config.webhooks.retry_base, Duration::from_secs(1));
    }

    #[test]
    fn nonsense_is_refused_naming_the_key_and_minimums_are_raised() {
        let refused = |settings: Settings| settings.validate().unwrap_err().to_string();
        let bad_proxy = refused(Settings {
            trusted_proxies: vec!["10.0.0.0/8".into(), "not-an-address".into()],
            ..Settings::default()
        });
        assert!(
            bad_proxy.contains("trusted_proxies") && bad_proxy.contains("HERALD_TRUSTED_PROXIES"),
            "{bad_proxy}"
        );
        assert!(bad_proxy.contains("not-an-address"), "{bad_proxy}");
        let cluster = |settings: Settings| Settings {
            nats_url: Some(Secret("nats://127.0.0.1:4222".into())),
            ..settings
        };
        assert!(refused(cluster(Settings {
            nats_replicas: 7,
            ..Settings::default()
        }))
        .contains("nats_replicas"));
        assert!(refused(cluster(Settings {
            nats_prefix: "a.b".into(),
            ..Settings::default()
        }))
        .contains("nats_prefix"));
        assert!(refused(Settings {
            pong_timeout: 0,
            ..Settings::default()
        })
        .contains("pong_timeout"));
        assert!(refused(Settings {
            outbound_queue: 0,
            ..Settings::default()
        })
        .contains("outbound_queue"));

        let config = cluster(Settings {
            app_refresh_ms: 1,
            node_timeout: 0,
            ..Settings::default()
        })
        .validate()
        .expect("valid");
        assert_eq!(config.store.app_refresh, Duration::from_millis(50));
        let cluster = config.cluster.expect("a cluster member");
        assert_eq!(cluster.node_timeout, Duration::from_secs(2));
        assert_eq!(cluster.nats_urls, vec!["nats://127.0.0.1:4222".to_string()]);
        let proxies = Settings {
            trusted_proxies: vec!["192.168.1.7".into(), "10.0.0.0/8".into()],
            ..Settings::default()
        }
        .validate()
        .expect("valid");
        assert!(proxies.is_trusted_proxy("192.168.1.7".parse().unwrap()));
        assert!(proxies.is_trusted_proxy("10.9.8.7".parse().unwrap()));
        assert!(!proxies.is_trusted_proxy("192.168.1.8".parse().unwrap()));
    }
}
