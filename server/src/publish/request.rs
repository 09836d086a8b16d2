//! A publish request as the Pusher HTTP API takes it (`POST /apps/{id}/events`), checked and carried
//! out: validation (name, data size, channels, `socket_id`, idempotency key), the tenant's daily
//! quota, and the publish to each channel. The signed Pusher API and the admin API's event creator
//! both go through here, so an event sent from the console takes exactly the path of a signed one.
//!
//! Knows nothing of HTTP: `PublishError` says what went wrong; each API maps it to its own answer.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::Publisher;
use crate::apps::AppDirectory;
use crate::bus::StoreOptions;
use crate::clock::unix_secs;
use crate::history::{Position, Retention};
use crate::message::{ChannelMessage, MessageData, Origin};
use crate::protocol::{ChannelKind, ChannelName, EventName, NameError, SocketId};
use crate::quota::DailyQuota;
use crate::store::App;

/// Channels one event may go to.
pub const MAX_CHANNELS: usize = 100;
/// Bytes an idempotency key may have.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Why a publish was refused.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PublishError {
    /// The request is malformed; the message names the field.
    #[error("{0}")]
    BadRequest(String),
    /// Over the tenant's daily quota.
    #[error("{0}")]
    OverQuota(String),
    #[error("Payload too large: data is {size} bytes; this app's limit is {limit} bytes")]
    PayloadTooLarge { size: usize, limit: usize },
    /// The message could not be stored or routed now; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl PublishError {
    pub fn bad(message: impl Into<String>) -> Self {
        PublishError::BadRequest(message.into())
    }
}

impl From<NameError> for PublishError {
    fn from(e: NameError) -> Self {
        PublishError::BadRequest(e.to_string())
    }
}

/// One event as the HTTP API takes it.
#[derive(Debug, Default, Deserialize)]
pub struct EventRequest {
    pub name: Option<String>,
    pub data: Option<Value>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub socket_id: Option<String>,
    #[serde(default)]
    pub info: Option<String>,
    /// Herald extension: store and deliver once however often the request is retried.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// An event that passed validation.
pub struct ValidEvent {
    pub name: EventName,
    pub data: String,
    pub channels: Vec<ChannelName>,
    pub exclude: Option<SocketId>,
    /// Attributes asked for in the answer (`info=subscription_count,user_count`).
    pub info: Vec<String>,
    pub idempotency_key: Option<String>,
}

/// Checks `request` against the protocol's rules and `app`'s limits.
pub fn validate(app: &App, request: EventRequest) -> Result<ValidEvent, PublishError> {
    let name = request
        .name
        .as_deref()
        .ok_or_else(|| PublishError::bad("Missing event name: set \"name\""))?;
    let name = EventName::parse(name)?;
    let data = match request.data {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => return Err(PublishError::bad("Missing data: set \"data\" (a string)")),
    };
    let limit = app.settings.max_payload_bytes as usize;
    if data.len() > limit {
        return Err(PublishError::PayloadTooLarge {
            size: data.len(),
            limit,
        });
    }
    let channels = channels_of(request.channels, request.channel)?;
    let exclude = match request.socket_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            SocketId::parse(raw)
                .ok_or_else(|| PublishError::bad(format!("Invalid socket_id {raw:?}: expected digits.digits")))?,
        ),
    };
    let info = request
        .info
        .map(|s| {
            s.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Ok(ValidEvent {
        name,
        data,
        channels,
        exclude,
        info,
        idempotency_key: checked_key(request.idempotency_key, "idempotency_key")?,
    })
}

/// The channels named by `channels` or `channel` (one of them), parsed.
fn channels_of(list: Option<Vec<String>>, one: Option<String>) -> Result<Vec<ChannelName>, PublishError> {
    let raw = match (list, one) {
        (Some(list), None) => list,
        (None, Some(one)) => vec![one],
        (Some(_), Some(_)) => return Err(PublishError::bad("Give either \"channels\" or \"channel\", not both")),
        (None, None) => {
            return Err(PublishError::bad(
                "Missing channels: set \"channels\" (a list) or \"channel\"",
            ))
        }
    };
    if raw.is_empty() || raw.len() > MAX_CHANNELS {
        let n = raw.len();
        return Err(PublishError::bad(format!(
            "An event goes to 1 to {MAX_CHANNELS} channels; this one has {n}"
        )));
    }
    let channels = raw
        .iter()
        .map(|c| ChannelName::parse(c).map_err(|e| PublishError::bad(format!("Invalid channel {c:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if channels.len() > 1 && channels.iter().any(|c| c.kind() == ChannelKind::Encrypted) {
        return Err(PublishError::bad(
            "Encrypted channels cannot be triggered together with other channels",
        ));
    }
    Ok(channels)
}

/// An idempotency key (from `what`), checked.
pub fn checked_key(key: Option<String>, what: &str) -> Result<Option<String>, PublishError> {
    match key {
        Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => Err(PublishError::bad(format!(
            "Invalid {what}: give 1 to {MAX_IDEMPOTENCY_KEY} bytes"
        ))),
        other => Ok(other),
    }
}

/// Counts `events` against the app's tenant's daily message quota, all or nothing.
pub fn take_quota(
    apps: &AppDirectory,
    quota: &DailyQuota,
    app: &App,
    events: &[&ValidEvent],
) -> Result<(), PublishError> {
    let limit = apps
        .tenant(&app.tenant_id)
        .map(|t| t.limits.max_messages_per_day)
        .unwrap_or(0);
    let messages: usize = events.iter().map(|e| e.channels.len()).sum();
    match quota.try_take(&app.tenant_id, messages as i64, limit, unix_secs()) {
        true => Ok(()),
        false => Err(PublishError::OverQuota(format!(
            "Over quota: this app's tenant may publish {limit} messages a day"
        ))),
    }
}

/// Publishes `event` to each of its channels; where each was stored (`None`: not stored).
pub async fn publish(
    publisher: &Publisher,
    app: &App,
    event: &ValidEvent,
) -> Result<Vec<Option<Position>>, PublishError> {
    let app_id: Arc<str> = Arc::from(app.id.as_str());
    let options = StoreOptions {
        idempotency_key: event.idempotency_key.clone(),
        dedup_window_ms: app.settings.idempotency_window as i64 * 1000,
        retention: Some(Retention::of(app)),
    };
    let mut positions = Vec::with_capacity(event.channels.len());
    for channel in &event.channels {
        let mut message = ChannelMessage::new(
            app_id.clone(),
            channel.clone(),
            event.name.as_str().to_string(),
            MessageData::Text(event.data.clone()),
            Origin::Api,
        );
        message.exclude = event.exclude.clone();
        let published = publisher
            .publish(message, &options)
            .await
            .map_err(|e| PublishError::Unavailable(format!("Event not published, retry: {e}")))?;
        positions.push(published.position);
    }
    Ok(positions)
}
