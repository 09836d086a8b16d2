//! The `herald` command: `serve`, `migrate`, `openapi`, and the management commands (`manage.rs`).

mod manage;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use herald::config::{Config, LogFormat, Overrides};
use herald::shutdown::{self, Shutdown};
use herald::startup::{open_store, Application};
use herald::store::AppWithKeys;
use manage::{AdminsCommand, AppsCommand, TenantsCommand};

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
    /// Run a node.
    Serve {
        /// Address to listen on (default 127.0.0.1:6001).
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
            open_store(&config.store, true).await?;
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
    let shutdown = Shutdown::new();
    let app = Application::build(config, shutdown.clone()).await?;
    let addr = app.local_addr()?;
    if let Some(default) = &app.created_default_app {
        print_first_start(default, addr);
    }
    tracing::info!(%addr, console = %format!("http://{addr}/console/"), "herald listening");
    println!("Web console: http://{addr}/console/");
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

/// Shown once, on the first start with an empty store: the only time `serve` prints a secret.
fn print_first_start(created: &AppWithKeys, addr: SocketAddr) {
    let Some(key) = created.keys.first() else { return };
    let secret = key.secret.as_deref().unwrap_or_default();
    println!("Created the default app (shown once; `herald apps list` shows it again):");
    println!(
        "  app_id: {}\n  key:    {}\n  secret: {}",
        created.app.id, key.key, secret
    );
    println!("Connect with pusher-js:");
    println!(
        "  const pusher = new Pusher('{}', {{ wsHost: '{}', wsPort: {}, forceTLS: false, enabledTransports: ['ws'], cluster: '' }});",
        key.key,
        addr.ip(),
        addr.port()
    );
    println!("  pusher.subscribe('my-channel').bind('my-event', (data) => console.log(data));");
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
