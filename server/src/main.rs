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
    tracing::info!(%addr, console = %format!("http://{addr}/console/"), "herald listening");
    first_start::say(&format!("Web console: http://{addr}/console/\n"));
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
