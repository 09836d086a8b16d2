//! The `herald` command: `serve`, `migrate`, `openapi`, and the management commands (`manage.rs`).

mod first_start;
mod manage;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald::config::{Config, LogFormat, Overrides};
use herald::open_store::{open_store, OpenMode};
use herald::shutdown::{self, Shutdown};
use herald::startup::Application;
use manage::{AdminsCommand, AppsCommand, TenantsCommand};

/// jemalloc instead of the system allocator: under publishes glibc's malloc took about a seventh of
/// a node's CPU, much of it in arena locks when one worker thread frees what another allocated
/// (docs/benchmarks.md, stop 26: a quarter less CPU per publish, 5 KiB per idle connection as before).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "herald",
    version,
    about = "Self-hosted, Pusher-compatible realtime messaging"
)]
struct Cli {
    /// TOML configuration file (then HERALD_* environment variables, then flags).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory of the embedded store (default ./herald-data).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. Settings come from built-in defaults, then --config, then HERALD_* variables,
    /// then flags; see `after_help` for the variables.
    #[command(after_help = SERVE_ENV_HELP)]
    Serve {
        /// Address to listen on (default 127.0.0.1:6001; HERALD_LISTEN).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Run the database migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Manage apps.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
    /// Manage admins of the admin API.
    Admins {
        #[command(subcommand)]
        command: AdminsCommand,
    },
    /// Print the admin API's OpenAPI document.
    Openapi,
}

/// The settings `serve` reads from the environment, with their defaults (README: Configuration).
const SERVE_ENV_HELP: &str = "Environment (HERALD_ + the setting in upper case; also keys of the --config TOML file):
  HERALD_LISTEN=127.0.0.1:6001          the one port: WebSocket, HTTP API, admin API, console, health
  HERALD_DATA_DIR=./herald-data         the embedded store and its generated master key
  HERALD_DATABASE_URL=                  postgres://… puts the control store on Postgres
  HERALD_MASTER_KEY= HERALD_MASTER_KEY_FILE=  base64 of 32 bytes; required with HERALD_DATABASE_URL
  HERALD_NATS_URL= HERALD_NATS_PREFIX=herald  NATS URLs make this node a cluster member
  HERALD_NATS_REPLICAS=1 HERALD_MESSAGE_SHARDS=1 HERALD_NODE_TIMEOUT=10 HERALD_DEDUP_WINDOW=120
  HERALD_HISTORY_SIZE=1000 HERALD_HISTORY_MAX_AGE=86400 HERALD_HISTORY_TRIM_AFTER=60
  HERALD_ACTIVITY_TIMEOUT=120 HERALD_PONG_TIMEOUT=30 HERALD_MAX_CONNECTIONS=0 HERALD_OUTBOUND_QUEUE=1024
  HERALD_MAX_MESSAGE_BYTES=262144 HERALD_MAX_SUBSCRIPTIONS_PER_CONNECTION=1000 HERALD_MAX_CONNECTIONS_PER_ADDRESS=0
  HERALD_SHUTDOWN_GRACE=10 HERALD_APP_REFRESH_MS=500 HERALD_DATABASE_WAIT=60 HERALD_MIGRATE=true
  HERALD_TRUSTED_PROXIES= HERALD_METRICS_LISTEN= HERALD_REQUEST_BODY_TIMEOUT=10
  HERALD_TLS_CERT= HERALD_TLS_KEY=      PEM files: the port serves wss:// and https:// (reloaded on SIGHUP)
  HERALD_HISTORY_MEMORY_BYTES=536870912 HERALD_HISTORY_APP_MEMORY_BYTES=134217728
  HERALD_HISTORY_STORAGE=disk HERALD_HISTORY_FSYNC=every_second
  HERALD_EVENT_LOG_MAX_EVENTS=10000 HERALD_EVENT_LOG_MAX_AGE=86400 HERALD_EVENT_LOG_MAX_BYTES=268435456
  HERALD_WEBHOOK_RETRY_BASE_MS=1000 HERALD_WEBHOOK_ALLOWED_NETWORKS=
  HERALD_CEILING_PAYLOAD_BYTES=1048576 HERALD_CEILING_HISTORY_MESSAGES=10000 (and the other CEILING_ settings)
  HERALD_STATS_RETENTION=604800 HERALD_AUDIT_RETENTION=31536000 HERALD_CONSOLE_DIR=
  HERALD_LOG=info HERALD_LOG_FORMAT=pretty HERALD_LOG_PAYLOAD_PREVIEWS=false";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let listen = match &cli.command {
        Command::Serve { listen } => *listen,
        _ => None,
    };
    let overrides = Overrides {
        listen,
        data_dir: cli.data_dir.clone(),
    };
    let config = Config::load(cli.config.as_deref(), &overrides).context("invalid configuration")?;
    init_logging(&config);
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Migrate => {
            open_store(&config.store, true, OpenMode::CreateIfMissing, &|_| {}).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Tenants { command } => manage::tenants(config, command).await,
        Command::Apps { command } => manage::apps(config, command).await,
        Command::Admins { command } => manage::admins(config, command).await,
        Command::Openapi => {
            println!("{}", herald::openapi::openapi_json());
            Ok(())
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let data_dir = config.store.data_dir.clone();
    let uses_database = config.store.database_url.is_some();
    let shutdown = Shutdown::new();
    let app = Application::build(config, shutdown.clone()).await?;
    let addr = app.local_addr()?;
    if let Some(default) = &app.created_default_app {
        first_start::announce_default_app(default, addr, &data_dir)?;
    }
    let console = format!("{}://{addr}/console/", app.scheme());
    tracing::info!(%addr, console = %console, "herald listening");
    first_start::say(&format!("Web console: {console}\n"));
    if app.needs_owner {
        first_start::explain_first_owner(&data_dir, uses_database);
    }
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        shutdown::signal().await;
        tracing::info!("shutting down: closing connections with 4200");
        trigger.trigger();
    });
    app.run().await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(config: &Config) {
    // memory-serve lists every console asset at info level when the router is built.
    let spec = match config.log.filter.contains("memory_serve") {
        true => config.log.filter.clone(),
        false => format!("{},memory_serve=warn", config.log.filter),
    };
    let filter =
        tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

#[cfg(test)]
mod tests {
    use super::SERVE_ENV_HELP;

    /// `serve --help` names every setting's variable, so a new setting cannot go unlisted.
    #[test]
    fn serve_help_lists_every_setting() {
        let settings = serde_json::to_value(herald::config::Settings::default()).expect("settings serialize");
        for key in settings.as_object().expect("an object").keys() {
            let variable = format!("HERALD_{}", key.to_ascii_uppercase());
            let listed = SERVE_ENV_HELP.contains(&variable)
                || (key.starts_with("ceiling_") && SERVE_ENV_HELP.contains("CEILING_"));
            assert!(listed, "{variable} is missing from serve --help");
        }
    }
}
