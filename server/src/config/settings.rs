//! Configuration, typed and layered: built-in defaults, then a TOML file (`--config`), then `HERALD_*`
//! environment variables, then command-line flags. Secrets are never part of `Debug` output or logs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// How the process log is written.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
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

/// Everything a node needs to start.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address of the one port serving WebSocket, HTTP API and health checks.
    pub listen: SocketAddr,
    /// Where the embedded store keeps its files (and the generated master key).
    pub data_dir: PathBuf,
    /// `postgres://…` selects Postgres for the control store; unset means the embedded SQLite file.
    pub database_url: Option<Secret>,
    /// Base64 of 32 bytes; encrypts app secrets at rest. Unset: generated into the data directory.
    pub master_key: Option<Secret>,
    /// Run database migrations on start.
    pub migrate: bool,
    /// Seconds of client silence before the server pings (sent to clients as `activity_timeout`).
    pub activity_timeout: u64,
    /// Seconds to wait for a pong before closing with 4201.
    pub pong_timeout: u64,
    /// Most connections on this node (4100 above it); 0 means unlimited.
    pub max_connections: usize,
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
    /// Seconds the cluster's stream remembers idempotency keys (an app's shorter window still applies
    /// on single nodes only).
    pub dedup_window: u64,
    /// Replicas of the cluster's stream (1 to 5; more need a NATS cluster).
    pub nats_replicas: usize,
    /// NATS URLs (comma-separated) that make this node a cluster member; unset means a single node.
    pub nats_url: Option<Secret>,
    /// Prefix of every NATS subject of this cluster (several clusters can share a NATS).
    pub nats_prefix: String,
    /// Seconds without a heartbeat after which a node counts as dead and its presence members go.
    pub node_timeout: u64,
    /// Proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client's address.
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
    /// `tracing` filter, e.g. `info` or `herald=debug`.
    pub log: String,
    pub log_format: LogFormat,
}

impl Config {
    /// True when `peer` is one of the trusted proxies.
    pub fn is_trusted_proxy(&self, peer: std::net::IpAddr) -> bool {
        self.trusted_proxies.iter().any(|p| match p.parse::<ipnet::IpNet>() {
            Ok(net) => net.contains(&peer),
            Err(_) => p.parse::<std::net::IpAddr>() == Ok(peer),
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 6001)),
            data_dir: PathBuf::from("herald-data"),
            database_url: None,
            master_key: None,
            migrate: true,
            activity_timeout: 120,
            pong_timeout: 30,
            max_connections: 0,
            outbound_queue: 1024,
            max_message_bytes: 256 * 1024,
            shutdown_grace: 10,
            app_refresh_ms: 500,
            history_size: 1000,
            history_max_age: 24 * 3600,
            dedup_window: 120,
            nats_replicas: 1,
            nats_url: None,
            nats_prefix: "herald".into(),
            node_timeout: 10,
            trusted_proxies: Vec::new(),
            event_log_max_events: 10_000,
            event_log_max_age: 24 * 3600,
            event_log_max_bytes: 256 * 1024 * 1024,
            webhook_retry_base_ms: 1000,
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

impl Config {
    /// Loads the layers in order: defaults, `file`, `HERALD_*`, `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            figment = figment.merge(Toml::file_exact(path));
        }
        // Only known keys come from the environment, so unrelated `HERALD_*` variables (a test
        // harness's `HERALD_BIN`, say) do not trip `deny_unknown_fields`.
        let known = known_keys();
        let env = Env::prefixed("HERALD_").filter(move |key| known.iter().any(|k| key == k.as_str()));
        let mut config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(overrides))
            .extract()
            .map_err(Box::new)?;
        // An empty URL (`HERALD_NATS_URL=` in a compose file, say) means the same as none.
        for url in [&mut config.database_url, &mut config.nats_url] {
            if url.as_ref().is_some_and(|u| u.0.trim().is_empty()) {
                *url = None;
            }
        }
        Ok(config)
    }
}

fn known_keys() -> Vec<String> {
    // Optional keys serialize as null, so they are listed too.
    match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_apply_in_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("herald.toml", "listen = \"127.0.0.1:7000\"\nactivity_timeout = 30\n")?;
            jail.set_env("HERALD_ACTIVITY_TIMEOUT", "45");
            jail.set_env("HERALD_BIN", "/not/a/setting");
            let cli = Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            };
            let config = Config::load(Some(Path::new("herald.toml")), &cli).expect("loads");
            assert_eq!(config.listen.port(), 7000);
            assert_eq!(config.activity_timeout, 45);
            assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
            assert_eq!(config.pong_timeout, 30);
            jail.set_env("HERALD_NATS_URL", "");
            assert_eq!(
                Config::load(None, &cli).expect("loads").nats_url,
                None,
                "empty is unset"
            );
            jail.set_env("HERALD_DATABASE_URL", "postgres://u:pw@h/db");
            let config = Config::load(None, &cli).expect("loads");
            assert_eq!(config.database_url, Some(Secret("postgres://u:pw@h/db".into())));
            assert!(
                !format!("{config:?}").contains("pw@"),
                "secrets stay out of Debug output"
            );
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lissten = \"x\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml")), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("lissten"), "{err}");
            Ok(())
        });
    }
}
