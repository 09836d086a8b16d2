//! Control store: tenants, apps, keys, admins, API tokens, the audit log and the webhook queue.
//!
//! The seam is a set of small traits (`TenantStore`, `AppStore`, `AdminStore`, `AuditStore`,
//! `WebhookStore`) that
//! `ControlStore` gathers. `SqlStore` implements them once, in portable SQL, for both backends:
//! the embedded SQLite file and Postgres (`HERALD_DATABASE_URL=postgres://…`), each with its own
//! migrations folder. Nothing outside this module writes SQL. The connect and publish paths never
//! call the store: they read the in-memory `AppDirectory`, which reloads when `revision` moves.

mod app;
mod model;
mod secrets;
mod sql;
mod webhook;

pub use app::{App, AppSettings, NewApp, NewKey, SettingsPatch};
pub use model::{Actor, Admin, ApiToken, AppKey, AuditEntry, Role, Tenant, TenantLimits, TenantStatus};
pub use secrets::SecretBox;
pub use sql::SqlStore;
pub use webhook::{
    AfterAttempt, Attempt, ClaimedDelivery, Delivery, DeliveryEvent, DeliveryFilter, DeliveryStatus, NewDelivery,
    WebhookEndpoint, WebhookEventKind, WebhookUrl,
};

/// The store traits, to call their methods on a `dyn ControlStore`.
pub mod prelude {
    pub use super::{
        AdminStore, AppStore, AuditStore, ControlStore, EventLogStore, FirstAppStore, StatsStore, TenantStore,
        WebhookStore,
    };
}

use async_trait::async_trait;

/// Errors of the store layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field is already taken.
    #[error("{0} is already taken")]
    Duplicate(&'static str),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: String },
    /// A plan limit of the tenant would be exceeded.
    #[error("{0}")]
    Limit(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored settings are not valid JSON: {0}")]
    Settings(#[from] serde_json::Error),
    #[error("a stored secret cannot be decrypted with this master key")]
    Decrypt,
    /// The master key is not the one the store's secrets are sealed with.
    #[error(
        "this master key (fingerprint {given}) is not the one the store's app secrets are sealed with \
         (fingerprint {recorded}): give every node and every CLI call of this store the same \
         HERALD_MASTER_KEY (or HERALD_MASTER_KEY_FILE)"
    )]
    MasterKeyMismatch { recorded: String, given: String },
    #[error("{0}")]
    Io(std::io::Error),
}

/// Changes to a tenant; a missing field is left as it is.
#[derive(Debug, Clone, Default)]
pub struct TenantPatch {
    pub name: Option<String>,
    pub status: Option<TenantStatus>,
    pub max_apps: Option<i64>,
    pub max_connections: Option<i64>,
    pub max_messages_per_day: Option<i64>,
}
/// Changes to an app; a missing field is left as it is.
#[derive(Debug, Clone, Default)]
pub struct AppPatch {
    pub name: Option<String>,
    pub settings: SettingsPatch,
}

/// An app with its keys (secrets decrypted), as the node cache holds it.
#[derive(Debug, Clone)]
pub struct AppWithKeys {
    pub app: App,
    pub keys: Vec<AppKey>,
}

/// Everything a node caches, read in one go.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub revision: i64,
    pub tenants: Vec<Tenant>,
    pub apps: Vec<AppWithKeys>,
}

#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(
        &self,
        name: &str,
        slug: &str,
        limits: TenantLimits,
        actor: &Actor,
    ) -> Result<Tenant, StoreError>;
    async fn list_tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    async fn get_tenant(&self, id: &str) -> Result<Tenant, StoreError>;
    async fn tenant_by_slug(&self, slug: &str) -> Result<Tenant, StoreError>;
    async fn update_tenant(&self, id: &str, patch: TenantPatch, actor: &Actor) -> Result<Tenant, StoreError>;
    async fn delete_tenant(&self, id: &str, actor: &Actor) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates an app and its first key; enforces the tenant's `max_apps`.
    async fn create_app(&self, tenant_id: &str, new: NewApp, actor: &Actor) -> Result<AppWithKeys, StoreError>;
    /// Apps of one tenant, or of all when `tenant_id` is `None`.
    async fn list_apps(&self, tenant_id: Option<&str>) -> Result<Vec<App>, StoreError>;
    async fn get_app(&self, id: &str) -> Result<App, StoreError>;
    async fn update_app(&self, id: &str, patch: AppPatch, actor: &Actor) -> Result<App, StoreError>;
    async fn delete_app(&self, id: &str, actor: &Actor) -> Result<(), StoreError>;
    async fn create_key(&self, app_id: &str, new: NewKey, actor: &Actor) -> Result<AppKey, StoreError>;
    /// Keys of an app, secrets decrypted (callers decide who may see them).
    async fn list_keys(&self, app_id: &str) -> Result<Vec<AppKey>, StoreError>;
    async fn revoke_key(&self, app_id: &str, key: &str, actor: &Actor) -> Result<AppKey, StoreError>;
    /// Sets (or with `None` removes) an active key's expiry, in Unix seconds.
    async fn set_key_expiry(
        &self,
        app_id: &str,
        key: &str,
        expires_at: Option<i64>,
        actor: &Actor,
    ) -> Result<AppKey, StoreError>;
    /// Records that keys were used (batched by the node).
    async fn touch_keys(&self, keys: &[String], at: i64) -> Result<(), StoreError>;
    /// A number that changes whenever cached data (tenants, apps, keys) changes.
    async fn revision(&self) -> Result<i64, StoreError>;
    async fn snapshot(&self) -> Result<Snapshot, StoreError>;
}

/// An admin with its password hash, for login only.
#[derive(Debug, Clone)]
pub struct AdminCredentials {
    pub admin: Admin,
    pub password_hash: String,
}

#[async_trait]
pub trait AdminStore: Send + Sync {
    async fn create_admin(
        &self,
        email: &str,
        password_hash: &str,
        role: Role,
        tenant_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Admin, StoreError>;
    async fn admin_credentials(&self, email: &str) -> Result<Option<AdminCredentials>, StoreError>;
    async fn get_admin(&self, id: &str) -> Result<Admin, StoreError>;
    async fn list_admins(&self, tenant_id: Option<&str>) -> Result<Vec<Admin>, StoreError>;
    /// Removes an admin; the last owner cannot be removed (`Limit`).
    async fn delete_admin(&self, id: &str, actor: &Actor) -> Result<(), StoreError>;
    /// Gives an admin another role (and tenant: none for owners, one for tenant roles); the last
    /// owner keeps its role (`Limit`).
    async fn update_admin(
        &self,
        id: &str,
        role: Role,
        tenant_id: Option<&str>,
        actor: &Actor,
    ) -> Result<Admin, StoreError>;
    /// Replaces an admin's password hash and ends its sessions (its refresh tokens).
    async fn set_admin_password(&self, id: &str, password_hash: &str, actor: &Actor) -> Result<(), StoreError>;
    /// Keeps a refresh token of `family` (one sign-in and the refreshes after it).
    async fn save_refresh_token(
        &self,
        token_hash: &str,
        admin_id: &str,
        family: &str,
        expires_at: i64,
    ) -> Result<(), StoreError>;
    /// Uses a refresh token (each works once). A token used before revokes its whole family.
    async fn take_refresh_token(&self, token_hash: &str, now: i64) -> Result<RefreshUse, StoreError>;
    /// Revokes every refresh token of a family (logout).
    async fn revoke_refresh_family(&self, family: &str) -> Result<(), StoreError>;
    async fn create_api_token(
        &self,
        tenant_id: &str,
        name: &str,
        role: Role,
        token_hash: &str,
        actor: &Actor,
    ) -> Result<ApiToken, StoreError>;
    async fn api_token_by_hash(&self, token_hash: &str) -> Result<Option<ApiToken>, StoreError>;
    async fn list_api_tokens(&self, tenant_id: &str) -> Result<Vec<ApiToken>, StoreError>;
    async fn revoke_api_token(&self, tenant_id: &str, id: &str, actor: &Actor) -> Result<(), StoreError>;
}

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Records an event outside any other write (logins, failed logins).
    async fn record(
        &self,
        tenant_id: Option<&str>,
        actor: &Actor,
        action: &str,
        target: &str,
        detail: serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Removes entries older than `before` (Unix seconds); returns how many went.
    async fn prune_audit(&self, before: i64) -> Result<u64, StoreError>;
    /// A tenant's audit log, newest first, before `before` (an entry id) when given.
    async fn audit_log(&self, tenant_id: &str, limit: i64, before: Option<i64>) -> Result<Vec<AuditEntry>, StoreError>;
}

/// The durable webhook queue: deliveries (one signed POST each) and their attempts. Several nodes
/// may share it (Postgres): a delivery is attempted by the node that claimed it, under a lease, so
/// no two nodes POST it at once, and a node that dies mid-attempt leaves it to be claimed again when
/// the lease runs out (at-least-once). Times are Unix milliseconds.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    /// Queues a delivery, due at once; its id.
    async fn enqueue_webhook(&self, delivery: NewDelivery) -> Result<i64, StoreError>;
    /// Makes a failed (pending after a failed attempt) or dead delivery of `app_id` due at `now` with
    /// a fresh retry schedule; false when there is no such delivery or it is in flight.
    async fn redeliver_webhook(&self, app_id: &str, id: i64, now: i64) -> Result<bool, StoreError>;
    /// Claims the pending delivery due first (`next_attempt_at <= now`) that no node holds, and
    /// holds it until `lease_until`; `None` when nothing is due.
    async fn claim_webhook(&self, now: i64, lease_until: i64) -> Result<Option<ClaimedDelivery>, StoreError>;
    /// Records an attempt of a claimed delivery and what follows from it, and releases the claim.
    async fn record_webhook_attempt(&self, id: i64, attempt: Attempt, after: AfterAttempt) -> Result<(), StoreError>;
    /// An app's deliveries that match `filter`, newest first, each with its attempts (oldest first).
    async fn list_webhook_deliveries(&self, app_id: &str, filter: &DeliveryFilter)
        -> Result<Vec<Delivery>, StoreError>;
    /// Removes delivered and dead deliveries created before `before`; returns how many went.
    async fn prune_webhooks(&self, before: i64) -> Result<u64, StoreError>;
    /// Deliveries still pending (the queue's depth).
    async fn pending_webhooks(&self) -> Result<i64, StoreError>;
}

/// One lifecycle event as the store keeps it: the columns queries filter on, and the whole event as JSON.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub app_id: String,
    pub time: i64,
    /// The event kind's wire name.
    pub kind: &'static str,
    pub socket_id: Option<String>,
    pub user_id: Option<String>,
    pub channel: Option<String>,
    pub body: String,
}

/// Which stored lifecycle events to read (times in Unix milliseconds, inclusive).
#[derive(Debug, Clone)]
pub struct EventFilter {
    pub since: i64,
    pub until: i64,
    pub kinds: Vec<String>,
    pub channel: Option<String>,
    pub socket_id: Option<String>,
    pub user_id: Option<String>,
    pub limit: i64,
}

/// The lifecycle log of a single node (a cluster keeps it in JetStream).
#[async_trait]
pub trait EventLogStore: Send + Sync {
    async fn append_events(&self, events: &[EventRow]) -> Result<(), StoreError>;
    /// The matching events' JSON, newest first.
    async fn query_events(&self, app_id: &str, filter: &EventFilter) -> Result<Vec<String>, StoreError>;
    /// Removes events older than `before`, and beyond the newest `keep_per_app` of each app.
    async fn prune_events(&self, before: i64, keep_per_app: i64) -> Result<u64, StoreError>;
}

/// One node's figures for one app and minute, or (read back) every node's summed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    pub app_id: String,
    /// Unix ms, the start of the minute.
    pub bucket: i64,
    /// Empty when summed over nodes.
    pub node: String,
    /// Peak connections during the minute (summed over nodes: the sum of the nodes' peaks).
    pub connections: i64,
    pub messages_in: i64,
    pub messages_out: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// It was valid and is used now: a new token of the same family may be issued to the admin.
    Valid { admin_id: String, family: String },
    /// It had been used before: its family is revoked (a copy of it was presented).
    Reused { admin_id: String },
    /// Unknown or expired.
    Unknown,
}

/// The first start's default app.
#[async_trait]
pub trait FirstAppStore: Send + Sync {
    /// On an empty store (no app, no tenant but `tenant`'s slug), creates the tenant `(name, slug)`
    /// when it is missing and the app in it; `None` when the store is not empty. Processes that
    /// start together on one store make one app between them.
    async fn create_first_app(
        &self,
        tenant: (&str, &str),
        new: NewApp,
        actor: &Actor,
    ) -> Result<Option<AppWithKeys>, StoreError>;
}

/// Per-app figures by the minute.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// Keeps nodes' rows (a row already kept for the same app, minute and node stays as it was).
    async fn record_stats(&self, rows: &[StatsRow]) -> Result<(), StoreError>;
    /// An app's minutes in `[since, until)`, summed over nodes, oldest first; minutes without rows
    /// are left out.
    async fn stats(&self, app_id: &str, since: i64, until: i64) -> Result<Vec<StatsRow>, StoreError>;
    /// Removes minutes before `before`; returns how many rows went.
    async fn prune_stats(&self, before: i64) -> Result<u64, StoreError>;
}

/// Where the control plane lives.
#[async_trait]
pub trait ControlStore:
    TenantStore + AppStore + FirstAppStore + AdminStore + AuditStore + WebhookStore + EventLogStore + StatsStore + 'static
{
    /// True when the store answers.
    async fn ping(&self) -> bool;
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
}
