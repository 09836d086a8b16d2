//! The lifecycle log: one structured event for each thing that happens to a connection, a
//! subscription, a publish or a webhook, kept per app for a while, queryable and streamable live.
//!
//! `LifecycleLog` is the front: `record` writes the event to the process log (tracing, never with
//! secrets or signatures) and hands it to an `EventStore`: `SqlEvents` (the control store) on a single node, the
//! cluster's JetStream stream otherwise. Recording never waits. This module decides nothing about
//! connections; the session, the HTTP handlers and the webhooks call it.

mod counted;
mod detail;
mod flush;
mod preview;
mod sql;

pub(crate) use flush::{FlushInbox, FlushRequests};

pub use detail::{Detail, PublishDetail};
pub use preview::{preview, preview_bytes};
pub use sql::SqlEvents;

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::unix_ms;
use crate::history::BoxedSource;
use crate::metrics::Metrics;

crate::wire_enum::wire_enum! {
    /// What happened.
    pub enum EventKind {
        ConnectionOpened = "connection_opened",
        ConnectionClosed = "connection_closed",
        SubscriptionSucceeded = "subscription_succeeded",
        SubscriptionRefused = "subscription_refused",
        Signin = "signin",
        SigninRefused = "signin_refused",
        PublishAccepted = "publish_accepted",
        PublishRefused = "publish_refused",
        ClientEvent = "client_event",
        WebhookDelivered = "webhook_delivered",
        WebhookFailed = "webhook_failed",
    }
}

/// One event of the lifecycle log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LifecycleEvent {
    /// Unique, and ordered by time within a node: `{time}-{node}-{sequence}` (the live stream's
    /// `id:`, for `Last-Event-ID`).
    #[serde(default)]
    pub id: String,
    /// Unix milliseconds.
    pub time: i64,
    pub app_id: String,
    /// The node where it happened.
    pub node: String,
    pub kind: EventKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// The close code of a closed connection, or the HTTP status of a publish.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Why (a close reason, a refusal's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Kind-specific facts: remote address and user agent, who closed, channel count and bytes, a
    /// payload preview (unless the app switched previews off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub detail: Option<Detail>,
}

impl LifecycleEvent {
    pub fn new(kind: EventKind, app_id: &str) -> Self {
        LifecycleEvent {
            id: String::new(),
            time: unix_ms(),
            app_id: app_id.to_string(),
            node: String::new(),
            kind,
            socket_id: None,
            user_id: None,
            channel: None,
            code: None,
            reason: None,
            detail: None,
        }
    }

    pub fn socket(mut self, socket_id: impl ToString) -> Self {
        self.socket_id = Some(socket_id.to_string());
        self
    }

    pub fn channel(mut self, channel: impl ToString) -> Self {
        self.channel = Some(channel.to_string());
        self
    }

    pub fn user(mut self, user_id: Option<impl ToString>) -> Self {
        self.user_id = user_id.map(|u| u.to_string());
        self
    }

    pub fn code(mut self, code: u16) -> Self {
        self.code = Some(code);
        self
    }

    pub fn reason(mut self, reason: impl ToString) -> Self {
        self.reason = Some(reason.to_string());
        self
    }

    pub fn detail(mut self, detail: impl Into<Detail>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

/// Which events to return.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Unix milliseconds; the default is an hour ago.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub kinds: Vec<EventKind>,
    pub channel: Option<String>,
    pub socket_id: Option<String>,
    pub user_id: Option<String>,
    pub limit: usize,
}

impl EventQuery {
    pub fn matches(&self, e: &LifecycleEvent) -> bool {
        self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time <= u)
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && self.channel.as_ref().is_none_or(|c| e.channel.as_ref() == Some(c))
            && self.socket_id.as_ref().is_none_or(|s| e.socket_id.as_ref() == Some(s))
            && self.user_id.as_ref().is_none_or(|u| e.user_id.as_ref() == Some(u))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The log could not be read: `context` says what failed, `source` why.
    #[error("event log unavailable: {context}: {source}")]
    Unavailable {
        context: &'static str,
        #[source]
        source: BoxedSource,
    },
}

impl EventLogError {
    pub fn failed(context: &'static str, source: impl Into<BoxedSource>) -> Self {
        EventLogError::Unavailable {
            context,
            source: source.into(),
        }
    }
}

/// Live events of one app.
pub type LiveEvents = Pin<Box<dyn Stream<Item = LifecycleEvent> + Send>>;

/// Where lifecycle events are kept.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Keeps `event`; never waits.
    fn append(&self, event: LifecycleEvent);
    /// The newest `query.limit` events of an app that match, newest first.
    async fn query(&self, app_id: &str, query: &EventQuery) -> Result<Vec<LifecycleEvent>, EventLogError>;
    /// Every event of an app from now on, from every node.
    async fn live(&self, app_id: &str) -> Result<LiveEvents, EventLogError>;
    /// Completes once every event appended before the call is kept (or the store's writer has
    /// stopped); a stopping node calls it after its sessions have closed. The caller bounds it.
    async fn flush(&self);
}

/// The front of the lifecycle log.
pub struct LifecycleLog {
    node: String,
    store: Arc<dyn EventStore>,
    metrics: Arc<Metrics>,
    /// Numbers this node's events (their ids).
    sequence: AtomicU64,
    /// Whether the process log shows payload previews (the kept events have them when the app
    /// allows).
    previews_in_process_log: bool,
}

impl LifecycleLog {
    pub fn new(node: &str, store: Arc<dyn EventStore>, metrics: Arc<Metrics>, previews_in_process_log: bool) -> Self {
        LifecycleLog {
            node: node.to_string(),
            store,
            metrics,
            sequence: AtomicU64::new(0),
            previews_in_process_log,
        }
    }

    /// The detail as the process log shows it: without the payload preview unless it is allowed.
    fn logged_detail<'a>(&self, detail: &'a Detail) -> std::borrow::Cow<'a, Detail> {
        if self.previews_in_process_log {
            std::borrow::Cow::Borrowed(detail)
        } else {
            detail.without_preview()
        }
    }

    /// Logs `event` (tracing) and keeps it.
    pub fn record(&self, mut event: LifecycleEvent) {
        event.node.clone_from(&self.node);
        let sequence = self.sequence.fetch_add(1, Ordering::Relaxed);
        event.id = event_id(event.time, &self.node, sequence);
        tracing::info!(
            target: "herald::lifecycle",
            kind = event.kind.as_str(),
            app_id = %event.app_id,
            socket_id = event.socket_id.as_deref(),
            user_id = event.user_id.as_deref(),
            channel = event.channel.as_deref(),
            code = event.code,
            reason = event.reason.as_deref(),
            detail = event.detail.as_ref().map(|d| tracing::field::display(self.logged_detail(d))),
            "lifecycle"
        );
        counted::count(&self.metrics, &event);
        self.store.append(event);
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }
}

/// A publish accepted: the event names its channel when there is one, so the log's channel filter
/// finds it; `detail` lists them all.
pub fn accepted(app_id: &str, detail: PublishDetail) -> LifecycleEvent {
    let channel = match detail.channels.as_slice() {
        [one] => Some(one.clone()),
        _ => None,
    };
    let mut event = LifecycleEvent::new(EventKind::PublishAccepted, app_id)
        .code(200)
        .detail(detail);
    event.channel = channel;
    event
}

/// An event's id: its time (zero-padded, so ids sort by time), the node's first 8 characters and the
/// node's sequence number. Built by hand: `format!` with its padding cost a publish about 2% of its
/// instructions.
fn event_id(time_ms: i64, node: &str, sequence: u64) -> String {
    let node = node.char_indices().nth(8).map_or(node, |(end, _)| &node[..end]);
    let mut time = itoa::Buffer::new();
    // Times are never before 1970.
    let time = time.format(time_ms.max(0));
    let mut sequence_hex = [0u8; 16];
    // 8 bytes always fit 16 hex digits.
    let _ = hex::encode_to_slice(sequence.to_be_bytes(), &mut sequence_hex);
    let mut id = String::with_capacity(13 + node.len() + 18);
    id.extend(std::iter::repeat_n('0', 13usize.saturating_sub(time.len())));
    id.push_str(time);
    id.push('-');
    id.push_str(node);
    id.push('-');
    id.extend(sequence_hex.iter().map(|&digit| char::from(digit)));
    id
}

/// The time (Unix milliseconds) in an event id, if it is one.
pub fn time_of_id(id: &str) -> Option<i64> {
    id.split('-').next()?.parse().ok()
}

/// A refusal's message as the log keeps it: a signature error names what was signed (socket id,
/// channel data, user data), which stays out of the log.
pub fn redact(message: &str) -> &str {
    if message.starts_with("Invalid signature") {
        "Invalid signature"
    } else {
        message
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_id_sorts_by_time_and_names_the_node_by_its_first_8_characters() {
        assert_eq!(
            event_id(1_700_000_000_000, "node-abcdefgh", 255),
            "1700000000000-node-abc-00000000000000ff"
        );
        assert_eq!(event_id(5, "n1", 0), "0000000000005-n1-0000000000000000");
        assert_eq!(event_id(5, "ñóðéñóðéxyz", 1), "0000000000005-ñóðéñóðé-0000000000000001");
        assert_eq!(time_of_id(&event_id(42, "n", 7)), Some(42));
        assert_eq!(
            event_id(99_999_999_999_999, "n", u64::MAX),
            "99999999999999-n-ffffffffffffffff"
        );
    }

    #[test]
    fn queries_select_by_every_field() {
        let e = LifecycleEvent::new(EventKind::ConnectionClosed, "a")
            .socket("1.2")
            .channel("c")
            .user(Some("u"))
            .code(4201);
        let q = |q: EventQuery| q.matches(&e);
        assert!(q(EventQuery::default()));
        assert!(q(EventQuery {
            kinds: vec![EventKind::ConnectionClosed],
            ..Default::default()
        }));
        assert!(!q(EventQuery {
            kinds: vec![EventKind::Signin],
            ..Default::default()
        }));
        assert!(!q(EventQuery {
            channel: Some("d".into()),
            ..Default::default()
        }));
        assert!(q(EventQuery {
            socket_id: Some("1.2".into()),
            user_id: Some("u".into()),
            ..Default::default()
        }));
        assert!(!q(EventQuery {
            since: Some(e.time + 1),
            ..Default::default()
        }));
        assert_eq!(EventKind::parse("publish_refused"), Some(EventKind::PublishRefused));
        use EventKind::*;
        for kind in [
            ConnectionOpened,
            ConnectionClosed,
            SubscriptionSucceeded,
            SubscriptionRefused,
            Signin,
            SigninRefused,
            PublishAccepted,
            PublishRefused,
            ClientEvent,
            WebhookDelivered,
            WebhookFailed,
        ] {
            assert_eq!(
                EventKind::parse(kind.as_str()),
                Some(kind),
                "{kind:?} is logged by its wire name"
            );
        }
    }
}
