//! Managing the control store from the command line: tenants, apps and admins, printed as JSON.

use anyhow::Context;
use clap::{Args, Subcommand};
use herald::admin::password;
use herald::config::Config;
use herald::open_store::{open_store, OpenMode};
use herald::startup::default_tenant;
use herald::store::prelude::*;
use herald::store::{
    Actor, AppPatch, AppWithKeys, ControlStore, NewApp, Role, SettingsPatch, TenantLimits, WebhookEndpoint,
};
use serde_json::json;

#[derive(Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant and print it as JSON.
    Create {
        /// The tenant's display name (1 to 100 characters).
        #[arg(long)]
        name: String,
        /// Its short identifier: lower-case letters, digits and '-' (used by --tenant elsewhere).
        #[arg(long)]
        slug: String,
        /// Most apps; 0 means unlimited.
        #[arg(long, default_value_t = 0)]
        max_apps: i64,
        /// Most connections, summed over the tenant's apps; 0 means unlimited.
        #[arg(long, default_value_t = 0)]
        max_connections: i64,
        /// Most messages published per day (UTC), over the tenant's apps; 0 means unlimited.
        #[arg(long, default_value_t = 0)]
        max_messages_per_day: i64,
    },
    /// Print every tenant as a JSON array.
    List,
}

#[derive(Subcommand)]
pub enum AdminsCommand {
    /// Create an admin. The password is read from stdin when piped, else generated and printed once.
    Create {
        /// The admin's email address (how it signs in).
        #[arg(long)]
        email: String,
        /// owner (everything), tenant_admin (one tenant) or tenant_viewer (one tenant, read-only).
        #[arg(long)]
        role: String,
        /// The tenant's slug (tenant_admin and tenant_viewer only; none for owners).
        #[arg(long)]
        tenant: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AppsCommand {
    /// Create an app and print it as JSON; credentials not given are generated.
    Create {
        /// The tenant's slug (default: the "default" tenant, created when missing).
        #[arg(long)]
        tenant: Option<String>,
        /// The app's display name.
        #[arg(long)]
        name: String,
        /// The app id the Pusher SDKs are configured with (default: generated digits).
        #[arg(long)]
        id: Option<String>,
        /// The first key, as clients connect with it (default: generated).
        #[arg(long)]
        key: Option<String>,
        /// The first key's secret, as servers sign with it (default: generated; shown once).
        #[arg(long)]
        secret: Option<String>,
        #[command(flatten)]
        settings: SettingsArgs,
    },
    /// Print every app (of one tenant, with --tenant) as a JSON array.
    List {
        /// Only this tenant's apps (its slug; default: every tenant's).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Change an app's settings; running nodes apply them within a second.
    Update {
        /// The app's id.
        id: String,
        #[command(flatten)]
        settings: SettingsArgs,
    },
}

#[derive(Args)]
pub struct SettingsArgs {
    /// Accept connections and publishes (default true; false closes connections with 4003).
    #[arg(long, value_name = "BOOL")]
    enabled: Option<bool>,
    /// Most concurrent connections of the app (default 0: unlimited).
    #[arg(long)]
    max_connections: Option<u32>,
    /// Let clients send client-* events on private and presence channels (default false).
    #[arg(long, value_name = "BOOL")]
    client_events: Option<bool>,
    /// Client events per second per connection (default 10; above it 4301).
    #[arg(long)]
    client_event_rate: Option<u32>,
    /// Members of one presence channel (default 100).
    #[arg(long)]
    max_presence_members: Option<u32>,
    /// Bytes of a presence member's user_info (default 1024).
    #[arg(long)]
    max_presence_member_bytes: Option<u32>,
    /// Bytes of an event's data (default 10240; above it 413).
    #[arg(long)]
    max_payload_bytes: Option<u32>,
    /// Send pusher_internal:subscription_count to subscribers (default false).
    #[arg(long, value_name = "BOOL")]
    subscription_count: Option<bool>,
    /// Seconds a cache channel keeps its last event (default 1800).
    #[arg(long)]
    cache_ttl: Option<u32>,
    /// Comma-separated origins allowed to connect (default: empty, any).
    #[arg(long)]
    allowed_origins: Option<String>,
    /// Messages kept per channel for resume, rewind and the history API (default 100).
    #[arg(long)]
    history_max_messages: Option<u32>,
    /// Seconds a message is kept for resume, rewind and the history API (default 86400).
    #[arg(long)]
    history_max_age: Option<u32>,
    /// Seconds a publish's idempotency key is remembered (default 120).
    #[arg(long)]
    idempotency_window: Option<u32>,
    /// Lifecycle events of publishes show the start of the payload (default true).
    #[arg(long, value_name = "BOOL")]
    log_payload_previews: Option<bool>,
    /// Webhook endpoints as JSON, replacing the app's (default: none): '[{"url":"https://…","events":["channel_occupied"],"channel_prefix":"presence-"}]'.
    #[arg(long, value_name = "JSON", value_parser = parse_webhooks)]
    webhooks: Option<WebhooksArg>,
}

/// The value of `--webhooks` (one value for clap, where a bare `Vec` would mean a repeated flag).
#[derive(Clone)]
struct WebhooksArg(Vec<WebhookEndpoint>);

/// `--webhooks`: checked as the admin API checks `settings.webhooks` (as a settings patch).
fn parse_webhooks(raw: &str) -> Result<WebhooksArg, String> {
    let json = format!("{{\"webhooks\":{raw}}}");
    let patch: SettingsPatch = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    Ok(WebhooksArg(patch.webhooks.unwrap_or_default()))
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
            history_max_messages: a.history_max_messages,
            history_max_age: a.history_max_age,
            idempotency_window: a.idempotency_window,
            webhooks: a.webhooks.map(|w| w.0),
            log_payload_previews: a.log_payload_previews,
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

/// Opens the store for a command: one that only reads never creates a store.
async fn store_for(config: &Config, writes: bool) -> anyhow::Result<std::sync::Arc<herald::store::SqlStore>> {
    let mode = match writes {
        true => OpenMode::CreateIfMissing,
        false => OpenMode::Existing,
    };
    Ok(open_store(&config.store, false, mode, &|_| {}).await?)
}

pub async fn tenants(config: Config, command: TenantsCommand) -> anyhow::Result<()> {
    let store = store_for(&config, matches!(command, TenantsCommand::Create { .. })).await?;
    let out = match command {
        TenantsCommand::Create {
            name,
            slug,
            max_apps,
            max_connections,
            max_messages_per_day,
        } => {
            let limits = TenantLimits {
                max_apps,
                max_connections,
                max_messages_per_day,
            };
            serde_json::to_value::<herald::store::Tenant>(
                store.create_tenant(&name, &slug, limits, &Actor::cli()).await?,
            )?
        }
        TenantsCommand::List => serde_json::to_value::<Vec<herald::store::Tenant>>(store.list_tenants().await?)?,
    };
    print_json(&out)?;
    Ok(())
}

/// The id of the tenant with `slug`, or of the default tenant.
async fn tenant_id(store: &dyn ControlStore, slug: Option<&str>) -> anyhow::Result<String> {
    Ok(match slug {
        Some(slug) => {
            store
                .tenant_by_slug(slug)
                .await
                .with_context(|| format!("tenant {slug:?}"))?
                .id
        }
        None => default_tenant(store).await?.id,
    })
}

pub async fn apps(config: Config, command: AppsCommand) -> anyhow::Result<()> {
    let store = store_for(&config, matches!(command, AppsCommand::Create { .. })).await?;
    let out = match command {
        AppsCommand::Create {
            tenant,
            name,
            id,
            key,
            secret,
            settings,
        } => {
            let tenant_id = tenant_id(store.as_ref(), tenant.as_deref()).await?;
            let new = NewApp {
                name,
                id,
                key,
                secret,
                settings: settings.into(),
            };
            app_json(&store.create_app(&tenant_id, new, &Actor::cli()).await?)
        }
        AppsCommand::List { tenant } => {
            let tenant_id = match tenant {
                Some(slug) => Some(tenant_id(store.as_ref(), Some(&slug)).await?),
                None => None,
            };
            let mut out = Vec::new();
            for app in store.list_apps(tenant_id.as_deref()).await? {
                let keys = store.list_keys(&app.id).await?;
                out.push(app_json(&AppWithKeys { app, keys }));
            }
            json!(out)
        }
        AppsCommand::Update { id, settings } => {
            let patch = AppPatch {
                name: None,
                settings: settings.into(),
            };
            let app = store.update_app(&id, patch, &Actor::cli()).await?;
            let keys = store.list_keys(&id).await?;
            app_json(&AppWithKeys { app, keys })
        }
    };
    print_json(&out)?;
    Ok(())
}

/// An app as the CLI prints it: `key` and `secret` of its first active key and the settings at the top, for scripts.
fn app_json(a: &AppWithKeys) -> serde_json::Value {
    let first = a.keys.iter().find(|k| k.revoked_at.is_none());
    let mut out = json!({
        "id": a.app.id,
        "tenant_id": a.app.tenant_id,
        "name": a.app.name,
        "key": first.map(|k| k.key.clone()),
        "secret": first.and_then(|k| k.secret.clone()),
        "keys": a.keys,
        "created_at": a.app.created_at,
    });
    // Settings at the top level too, as `apps create` printed them before tenants existed.
    if let (Some(obj), Ok(serde_json::Value::Object(settings))) =
        (out.as_object_mut(), serde_json::to_value(&a.app.settings))
    {
        obj.extend(settings);
    }
    out
}

pub async fn admins(config: Config, command: AdminsCommand) -> anyhow::Result<()> {
    let store = store_for(&config, true).await?;
    let AdminsCommand::Create { email, role, tenant } = command;
    let role = Role::parse(&role).context("role must be owner, tenant_admin or tenant_viewer")?;
    let tenant_id = match tenant {
        Some(slug) => Some(tenant_id(store.as_ref(), Some(&slug)).await?),
        None => None,
    };
    let (pw, generated) = read_or_generate_password()?;
    let hash = password::hash(&pw)?;
    let admin = store
        .create_admin(&email, &hash, role, tenant_id.as_deref(), &Actor::cli())
        .await?;
    let mut out = serde_json::to_value(&admin)?;
    if generated {
        out["password"] = json!(pw);
    }
    print_json(&out)?;
    Ok(())
}

/// The password from stdin when it is piped (first line), or a generated one.
fn read_or_generate_password() -> anyhow::Result<(String, bool)> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if !pw.is_empty() {
            password::check_strength(&pw)?;
            return Ok((pw, false));
        }
    }
    Ok((password::generate(), true))
}

/// Prints JSON on stdout; a closed pipe (`| head`) is not an error.
fn print_json(value: &serde_json::Value) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{}", serde_json::to_string_pretty(value)?) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
