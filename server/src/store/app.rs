//! The app model: credentials and per-app settings.

use rand::distributions::Alphanumeric;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// An app: what a client connects to with its key and a publisher signs for with its secret.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct App {
    pub id: String,
    pub name: String,
    pub key: String,
    /// Never logged: `Debug` output of `App` is only used in tests.
    pub secret: String,
    #[serde(flatten)]
    pub settings: AppSettings,
}

/// Per-app settings. Defaults are Pusher's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
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
        }
    }
}

/// A change to some settings; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsPatch {
    pub enabled: Option<bool>,
    pub max_connections: Option<u32>,
    pub client_events: Option<bool>,
    pub client_event_rate: Option<u32>,
    pub max_presence_members: Option<u32>,
    pub max_presence_member_bytes: Option<u32>,
    pub max_payload_bytes: Option<u32>,
    pub subscription_count: Option<bool>,
    pub cache_ttl: Option<u32>,
    pub allowed_origins: Option<Vec<String>>,
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
            allowed_origins
        );
    }
}

/// An app to create; missing credentials are generated.
#[derive(Debug, Clone, Default)]
pub struct NewApp {
    pub name: String,
    pub id: Option<String>,
    pub key: Option<String>,
    pub secret: Option<String>,
    pub settings: SettingsPatch,
}

impl NewApp {
    /// Validates the given fields and fills in the missing ones.
    pub fn into_app(self) -> Result<App, StoreError> {
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        let id = match self.id {
            Some(id) => check_credential("id", id)?,
            None => rand::thread_rng()
                .gen_range(1_000_000..10_000_000u32)
                .to_string(),
        };
        let key = check_credential("key", self.key.unwrap_or_else(|| random_token(20)))?;
        let secret = check_credential("secret", self.secret.unwrap_or_else(|| random_token(20)))?;
        let mut settings = AppSettings::default();
        self.settings.apply(&mut settings);
        Ok(App {
            id,
            name,
            key,
            secret,
            settings,
        })
    }
}

fn invalid(field: &'static str, message: &str) -> StoreError {
    StoreError::Invalid {
        field,
        message: message.to_string(),
    }
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

fn random_token(len: usize) -> String {
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
        let app = NewApp {
            name: "demo".into(),
            ..Default::default()
        }
        .into_app()
        .unwrap();
        assert_eq!(app.key.len(), 20);
        assert_eq!(app.secret.len(), 20);
        assert!(app.id.parse::<u32>().is_ok());
        assert_eq!(app.settings, AppSettings::default());
    }

    #[test]
    fn bad_fields_are_named() {
        let err = NewApp {
            name: "".into(),
            ..Default::default()
        }
        .into_app()
        .unwrap_err();
        assert!(err.to_string().contains("name"));
        let err = NewApp {
            name: "a".into(),
            key: Some("a b".into()),
            ..Default::default()
        }
        .into_app()
        .unwrap_err();
        assert!(err.to_string().contains("key"));
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
