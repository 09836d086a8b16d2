//! The `herald` command: `serve`, and app management on the configured store.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use herald::config::{Config, LogFormat, Overrides};
use herald::shutdown::{self, Shutdown};
use herald::startup::{open_store, Application};
use herald::store::{App, NewApp, SettingsPatch};

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
    /// Manage apps.
    Apps {
        #[command(subcommand)]
        command: AppsCommand,
    },
}

#[derive(Subcommand)]
enum AppsCommand {
    /// Create an app and print it as JSON; credentials not given are generated.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        id: Option<String>,
        #[arg(long)]
        key: Option<String>,
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print every app as a JSON array.
    List,
    /// Change an app's settings; running nodes apply them within a second.
    Update {
        id: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Args)]
struct SettingsArgs {
    #[arg(long, value_name = "BOOL")]
    enabled: Option<bool>,
    /// 0 means unlimited.
    #[arg(long)]
    max_connections: Option<u32>,
    #[arg(long, value_name = "BOOL")]
    client_events: Option<bool>,
    /// Client events per second per connection.
    #[arg(long)]
    client_event_rate: Option<u32>,
    #[arg(long)]
    max_presence_members: Option<u32>,
    #[arg(long)]
    max_presence_member_bytes: Option<u32>,
    #[arg(long)]
    max_payload_bytes: Option<u32>,
    #[arg(long, value_name = "BOOL")]
    subscription_count: Option<bool>,
    /// Seconds a cache channel keeps its last event.
    #[arg(long)]
    cache_ttl: Option<u32>,
    /// Comma-separated origins allowed to connect; empty allows any.
    #[arg(long)]
    allowed_origins: Option<String>,
}

impl From<SettingsArgs> for SettingsPatch {
    fn from(a: SettingsArgs) -> Self {
        SettingsPatch {
            enabled: a.enabled,
            max_connections: a.max_connections,
            client_events: a.client_events,
            client_event_rate: a.client_event_rate,
            max_presence_members: a.max_presence_members,
            max_presence_member_bytes: a.max_presence_member_bytes,
            max_payload_bytes: a.max_payload_bytes,
            subscription_count: a.subscription_count,
            cache_ttl: a.cache_ttl,
            allowed_origins: a.allowed_origins.map(|s| {
                s.split(',')
                    .map(str::trim)
                    .filter(|o| !o.is_empty())
                    .map(str::to_string)
                    .collect()
            }),
        }
    }
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
    let config =
        Config::load(cli.config.as_deref(), &overrides).context("invalid configuration")?;
    init_logging(&config);
    match cli.command {
        Command::Serve { .. } => serve(config).await,
        Command::Apps { command } => apps(config, command).await,
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let shutdown = Shutdown::new();
    let app = Application::build(config, shutdown.clone()).await?;
    let addr = app.local_addr()?;
    if let Some(default) = &app.created_default_app {
        print_first_start(default, addr);
    }
    tracing::info!(%addr, "herald listening");
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

async fn apps(config: Config, command: AppsCommand) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let out = match command {
        AppsCommand::Create {
            name,
            id,
            key,
            secret,
            settings,
        } => {
            let app = store
                .create_app(NewApp {
                    name,
                    id,
                    key,
                    secret,
                    settings: settings.into(),
                })
                .await?;
            serde_json::to_string_pretty(&app)?
        }
        AppsCommand::List => serde_json::to_string_pretty(&store.list_apps().await?)?,
        AppsCommand::Update { id, settings } => {
            serde_json::to_string_pretty(&store.update_app(&id, settings.into()).await?)?
        }
    };
    println!("{out}");
    Ok(())
}

/// Shown once, on the first start with an empty store: the only time the secret is printed by `serve`.
fn print_first_start(app: &App, addr: SocketAddr) {
    println!("Created the default app (shown once; `herald apps list` shows it again):");
    println!(
        "  app_id: {}\n  key:    {}\n  secret: {}",
        app.id, app.key, app.secret
    );
    println!("Connect with pusher-js:");
    println!(
        "  const pusher = new Pusher('{}', {{ wsHost: '{}', wsPort: {}, forceTLS: false, enabledTransports: ['ws'], cluster: '' }});",
        app.key,
        addr.ip(),
        addr.port()
    );
    println!("  pusher.subscribe('my-channel').bind('my-event', (data) => console.log(data));");
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
