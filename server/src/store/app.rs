//! The app model: an app of a tenant, and its per-app settings.

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::webhook::{self, WebhookEndpoint};
use super::StoreError;

/// An app: what clients connect to (with one of its keys) and publishers sign for.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct App {
    pub id: String,
    pub tenant_id: String,
    pub name: String,
    pub settings: AppSettings,
    pub created_at: i64,
}

/// Per-app settings. Defaults are Pusher's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
#[serde(default)]
pub struct AppSettings {
    pub enabled: bool,
    /// Most concurrent connections; 0 means unlimited.
    pub max_connections: u32,
    pub client_events: bool,
    /// Client events a connection may send per second.
    pub client_event_rate: u32,
    pub max_presence_members: u32,
    /// Largest `user_info` of a presence member, in bytes.
    pub max_presence_member_bytes: u32,
    /// Largest event `data`, in bytes (HTTP 413 above it).
    pub max_payload_bytes: u32,
    /// Send `pusher_internal:subscription_count` to subscribers.
    pub subscription_count: bool,
    /// How long a cache channel keeps its last event, in seconds.
    pub cache_ttl: u32,
    /// Origins allowed to connect; empty means any.
    pub allowed_origins: Vec<String>,
    /// Messages kept per channel for resume and the history API.
    pub history_max_messages: u32,
    /// Seconds a message is kept for resume and the history API.
    pub history_max_age: u32,
    /// Seconds a publish's idempotency key is remembered (publishes with the same key are stored once).
    pub idempotency_window: u32,
    /// Where this app's webhooks go (Pusher's format and signature); empty means none.
    pub webhooks: Vec<WebhookEndpoint>,
    /// Lifecycle events of publishes show the start of the payload.
    pub log_payload_previews: bool,
}

impl Default for AppSettings {
    fn default() -> Self {
        AppSettings {
            enabled: true,
            max_connections: 0,
            client_events: false,
            client_event_rate: 10,
            max_presence_members: 100,
            max_presence_member_bytes: 1024,
            max_payload_bytes: 10 * 1024,
            subscription_count: false,
            cache_ttl: 1800,
            allowed_origins: Vec::new(),
            history_max_messages: 100,
            history_max_age: 24 * 3600,
            idempotency_window: 120,
            webhooks: Vec::new(),
            log_payload_previews: true,
        }
    }
}

/// A change to some settings; a missing field leaves the setting as it is. Numbers are also held
/// to the installation's ceilings (`ceiling_*` settings; a value above one is refused naming it).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsPatch {
    pub enabled: Option<bool>,
    #[schema(maximum = 4294967295u32)]
    pub max_connections: Option<u32>,
    pub client_events: Option<bool>,
    #[schema(maximum = 4294967295u32)]
    pub client_event_rate: Option<u32>,
    #[schema(maximum = 4294967295u32)]
    pub max_presence_members: Option<u32>,
    #[schema(maximum = 4294967295u32)]
    pub max_presence_member_bytes: Option<u32>,
    #[schema(maximum = 4294967295u32)]
    pub max_payload_bytes: Option<u32>,
    pub subscription_count: Option<bool>,
    #[schema(maximum = 4294967295u32)]
    pub cache_ttl: Option<u32>,
    /// At most 100 origins, each `scheme://host[:port]` with no path.
    #[schema(max_items = 100)]
    pub allowed_origins: Option<Vec<String>>,
    #[schema(maximum = 4294967295u32)]
    pub history_max_messages: Option<u32>,
    #[schema(maximum = 4294967295u32)]
    pub history_max_age: Option<u32>,
    #[schema(maximum = 4294967295u32)]
    pub idempotency_window: Option<u32>,
    /// Replaces every webhook endpoint (at most 10); `[]` removes them all. Each URL must reach
    /// outside the operator's network (checked on the URL and on what its name resolves to).
    #[serde(default, deserialize_with = "webhook::endpoints")]
    #[schema(max_items = 10)]
    pub webhooks: Option<Vec<WebhookEndpoint>>,
    pub log_payload_previews: Option<bool>,
}

impl SettingsPatch {
    pub fn apply(&self, s: &mut AppSettings) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = &self.$f { s.$f = v.clone(); } )* };
        }
        set!(
            enabled,
            max_connections,
            client_events,
            client_event_rate,
            max_presence_members,
            max_presence_member_bytes,
            max_payload_bytes,
            subscription_count,
            cache_ttl,
            allowed_origins,
            history_max_messages,
            history_max_age,
            idempotency_window,
            webhooks,
            log_payload_previews
        );
    }
}

/// An app to create, with its first key; missing credentials are generated.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub id: Option<String>,
    pub key: Option<String>,
    pub secret: Option<String>,
    pub settings: SettingsPatch,
}

/// A key/secret pair to create.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub key: String,
    pub secret: String,
    pub label: String,
    pub expires_at: Option<i64>,
}

impl NewKey {
    /// Checks given credentials and generates missing ones.
    pub fn new(
        key: Option<String>,
        secret: Option<String>,
        label: String,
        expires_at: Option<i64>,
    ) -> Result<Self, StoreError> {
        if label.chars().count() > 100 {
            return Err(invalid("label", "must be at most 100 characters"));
        }
        let key = check_credential("key", key.unwrap_or_else(|| random_token(20)))?;
        let secret = check_credential("secret", secret.unwrap_or_else(|| random_token(20)))?;
        Ok(NewKey {
            key,
            secret,
            label,
            expires_at,
        })
    }
}

impl NewApp {
    /// Validates the given fields and fills in the missing ones.
    pub fn into_parts(self, tenant_id: &str, now: i64) -> Result<(App, NewKey), StoreError> {
        let name = check_name("name", &self.name)?;
        let id = match self.id {
            Some(id) => check_credential("id", id)?,
            None => rand::thread_rng().gen_range(1_000_000..10_000_000u32).to_string(),
        };
        let key = NewKey::new(self.key, self.secret, "default".into(), None)?;
        let mut settings = AppSettings::default();
        self.settings.apply(&mut settings);
        Ok((
            App {
                id,
                tenant_id: tenant_id.to_string(),
                name,
                settings,
                created_at: now,
            },
            key,
        ))
    }
}

pub(crate) fn invalid(field: &'static str, message: &str) -> StoreError {
    StoreError::Invalid {
        field,
        message: message.to_string(),
    }
}

/// A display name: trimmed, 1 to 100 characters.
pub(crate) fn check_name(field: &'static str, raw: &str) -> Result<String, StoreError> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid(field, "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

/// Ids, keys and secrets appear in URLs and signed strings: keep them to URL-safe characters.
fn check_credential(field: &'static str, value: String) -> Result<String, StoreError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then_some(value)
        .ok_or_else(|| invalid(field, "must be 1 to 64 characters of [A-Za-z0-9_-]"))
}

pub(crate) fn random_token(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(|c| (c as char).to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_valid() {
        let (app, key) = NewApp {
            name: "demo".into(),
            ..Default::default()
        }
        .into_parts("t", 0)
        .unwrap();
        assert_eq!(key.key.len(), 20);
        assert_eq!(key.secret.len(), 20);
        assert!(app.id.parse::<u32>().is_ok());
        assert_eq!(app.settings, AppSettings::default());
    }

    #[test]
    fn bad_fields_are_named() {
        let err = NewApp {
            name: "".into(),
            ..Default::default()
        }
        .into_parts("t", 0)
        .unwrap_err();
        assert!(err.to_string().contains("name"));
        let bad_key = NewApp {
            name: "a".into(),
            key: Some("a b".into()),
            ..Default::default()
        };
        assert!(bad_key.into_parts("t", 0).unwrap_err().to_string().contains("key"));
    }

    #[test]
    fn patch_changes_only_given_fields() {
        let mut s = AppSettings::default();
        SettingsPatch {
            client_events: Some(true),
            ..Default::default()
        }
        .apply(&mut s);
        assert!(s.client_events);
        assert_eq!(s.client_event_rate, 10);
    }
}
