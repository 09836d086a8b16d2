//! The webhook model: an app's endpoints (part of its settings) and the durable delivery queue
//! (`webhook_deliveries` and `webhook_attempts`, see `migrations/*/0002_webhooks.sql`).
//!
//! Times of the queue are Unix **milliseconds** (retries start one second apart, and tests make them
//! shorter), unlike the rest of the control store, which counts seconds.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Most endpoints an app may have.
pub const MAX_ENDPOINTS: usize = 10;
/// Longest endpoint URL, in bytes.
const MAX_URL_BYTES: usize = 2048;
/// Longest channel-name prefix filter (a channel name has at most 164 characters).
const MAX_PREFIX_BYTES: usize = 164;

crate::wire_enum::wire_enum! {
    /// The kinds of webhook event Pusher sends, as their wire names.
    pub enum WebhookEventKind {
        ChannelOccupied = "channel_occupied",
        ChannelVacated = "channel_vacated",
        MemberAdded = "member_added",
        MemberRemoved = "member_removed",
        ClientEvent = "client_event",
        CacheMiss = "cache_miss",
        SubscriptionCount = "subscription_count",
    }
}

/// An http(s) URL a webhook is POSTed to; checked when parsed, so a stored endpoint is always usable.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "https://example.com/pusher/webhooks")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_URL_BYTES {
            return Err(format!("webhook url must be at most {MAX_URL_BYTES} bytes"));
        }
        // `reqwest::Url` is the `url` crate's `Url`: the parser the delivery itself uses.
        let url = reqwest::Url::parse(raw).map_err(|e| format!("webhook url {raw:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
            return Err(format!(
                "webhook url {raw:?} must be an http:// or https:// URL with a host"
            ));
        }
        Ok(WebhookUrl(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        WebhookUrl::parse(&raw).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One place an app's webhooks go: the events it wants, optionally only for channels whose name
/// starts with `channel_prefix`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    /// An http:// or https:// URL with a host, at most 2048 bytes.
    #[schema(value_type = String, max_length = 2048)]
    pub url: WebhookUrl,
    /// At least one of channel_occupied, channel_vacated, member_added, member_removed,
    /// client_event, cache_miss, subscription_count.
    #[serde(deserialize_with = "non_empty_events")]
    #[schema(min_items = 1)]
    pub events: Vec<WebhookEventKind>,
    /// Only channels whose name starts with this (e.g. "presence-"); at most 164 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "prefix")]
    #[schema(max_length = 164)]
    pub channel_prefix: Option<String>,
}

impl WebhookEndpoint {
    /// True when this endpoint wants `kind` events of `channel`.
    pub fn wants(&self, kind: WebhookEventKind, channel: &str) -> bool {
        self.events.contains(&kind) && self.channel_prefix.as_deref().is_none_or(|p| channel.starts_with(p))
    }
}

fn non_empty_events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<WebhookEventKind>, D::Error> {
    let events = Vec::<WebhookEventKind>::deserialize(d)?;
    if events.is_empty() {
        return Err(serde::de::Error::custom("a webhook endpoint needs at least one event"));
    }
    Ok(events)
}

fn prefix<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let prefix = Option::<String>::deserialize(d)?;
    match prefix {
        Some(p) if p.len() > MAX_PREFIX_BYTES => Err(serde::de::Error::custom(format!(
            "channel_prefix must be at most {MAX_PREFIX_BYTES} bytes"
        ))),
        Some(p) if p.is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// The `webhooks` of a settings patch: at most `MAX_ENDPOINTS` endpoints.
pub(crate) fn endpoints<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<WebhookEndpoint>>, D::Error> {
    let endpoints = Option::<Vec<WebhookEndpoint>>::deserialize(d)?;
    if endpoints.as_ref().is_some_and(|e| e.len() > MAX_ENDPOINTS) {
        return Err(serde::de::Error::custom(format!(
            "an app has at most {MAX_ENDPOINTS} webhook endpoints"
        )));
    }
    Ok(endpoints)
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not delivered yet; attempted when `next_attempt_at` has passed.
    Pending,
    /// An attempt got a 2xx.
    Delivered,
    /// Every attempt failed; it will not be tried again.
    Dead,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "dead" => Some(DeliveryStatus::Dead),
            _ => None,
        }
    }
}

/// A webhook request to queue: one signed POST of `body` to `url` for `app_id`.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub app_id: String,
    pub url: String,
    /// The JSON body, exactly as it will be signed and sent.
    pub body: String,
    /// Unix ms; the delivery is due at once.
    pub created_at: i64,
    /// The events in `body`, for finding the delivery later (`DeliveryFilter`).
    pub events: Vec<DeliveryEvent>,
}

/// One event a delivery carries, as deliveries are searched by.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryEvent {
    pub name: WebhookEventKind,
    pub channel: String,
    /// The member of member_added/member_removed, the sender of a client event on a presence channel.
    pub user_id: Option<String>,
}

/// Which of an app's deliveries to list: each given field must match; newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    /// Deliveries carrying at least one event that matches `event`, `channel` and `user_id` together.
    pub event: Option<WebhookEventKind>,
    pub channel: Option<String>,
    pub user_id: Option<String>,
    /// Only deliveries older than this id (the last id of the previous page).
    pub before: Option<i64>,
    /// 1 to 200.
    pub limit: i64,
}

impl DeliveryFilter {
    /// True when some event must match.
    pub fn by_event(&self) -> bool {
        self.event.is_some() || self.channel.is_some() || self.user_id.is_some()
    }
}

/// A delivery a node has claimed (leased) to attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub id: i64,
    pub app_id: String,
    pub url: String,
    pub body: String,
    /// Attempts made before this one.
    pub attempts: i64,
}

/// What one attempt to POST a delivery gave.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Attempt {
    /// Unix ms when the request started.
    pub at: i64,
    /// The HTTP status of the response; null when there was none (timeout, connection refused).
    pub status_code: Option<i64>,
    pub latency_ms: i64,
    /// Why the attempt failed; null when it succeeded.
    pub error: Option<String>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Delivered,
    /// Try again at this Unix ms.
    RetryAt(i64),
    Dead,
}

/// A queued webhook request and every attempt made, as the admin API lists them.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Delivery {
    pub id: i64,
    pub app_id: String,
    pub url: String,
    pub status: DeliveryStatus,
    /// The JSON body sent (what `X-Pusher-Signature` signs).
    pub body: String,
    /// Unix ms when the events were batched.
    pub created_at: i64,
    /// Unix ms of the next attempt (pending deliveries only mean anything by it).
    pub next_attempt_at: i64,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub attempts: Vec<Attempt>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http_with_a_host() {
        assert!(WebhookUrl::parse("https://example.com/hooks?x=1").is_ok());
        assert!(WebhookUrl::parse("http://127.0.0.1:8080/").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hooks",
            "",
            "https://",
            "file:///etc/passwd",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn endpoints_are_checked_when_parsed() {
        let ok: WebhookEndpoint = serde_json::from_str(
            r#"{"url":"https://x.test/h","events":["channel_occupied","member_added"],"channel_prefix":"presence-"}"#,
        )
        .unwrap();
        assert!(ok.wants(WebhookEventKind::MemberAdded, "presence-room"));
        assert!(!ok.wants(WebhookEventKind::MemberAdded, "room"));
        assert!(!ok.wants(WebhookEventKind::ClientEvent, "presence-room"));
        for bad in [
            r#"{"url":"https://x.test/h","events":["channel_occupid"]}"#,
            r#"{"url":"https://x.test/h","events":[]}"#,
            r#"{"url":"mailto:a@b.c","events":["cache_miss"]}"#,
            r#"{"url":"https://x.test/h","events":["cache_miss"],"headers":{}}"#,
        ] {
            assert!(serde_json::from_str::<WebhookEndpoint>(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn kinds_serialize_as_their_wire_names() {
        assert_eq!(WebhookEventKind::ALL.len(), 7);
        for &kind in WebhookEventKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
            assert_eq!(WebhookEventKind::parse(kind.as_str()), Some(kind));
        }
    }
}
