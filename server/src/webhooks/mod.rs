//! Webhooks, as Pusher sends them: channel_occupied/vacated, member_added/removed, client_event,
//! cache_miss and subscription_count, POSTed as `{"time_ms", "events": […]}` with `X-Pusher-Key` and
//! `X-Pusher-Signature` to the endpoints in each app's settings, through a durable queue.
//!
//! The path: the hub (or, in a cluster, the node that decides a cluster-wide event) calls
//! `Webhooks::observe`, which drops at once what no endpoint of the app wants and otherwise hands
//! the event to the `Outbox` task (`outbox.rs`): vacates and removals are held 3 s and cancelled by
//! a quick return (`pending.rs`), events are batched per app and endpoint for up to 100 ms or 50
//! events, and each batch is written to the store's queue (`WebhookStore`). The `Dispatcher`
//! (`dispatcher.rs`) of every node claims due deliveries from that queue, signs and POSTs them
//! (`payload.rs`), retries with exponential backoff for over 5 minutes and then marks them dead.
//! Every attempt is kept and listed by the admin API.
//!
//! Owns the webhook format, the hold-and-batch logic and delivery. It does not decide when a
//! channel is occupied or a member added (hub, cluster), nor store anything itself (store).

mod dispatcher;
mod outbox;
pub mod payload;
pub mod pending;

pub use dispatcher::RetrySchedule;
pub use payload::WebhookEvent;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::lifecycle::LifecycleLog;

use tokio::sync::{mpsc, Notify};

use crate::apps::AppDirectory;
use crate::protocol::{ChannelName, SocketId};
use crate::shutdown::Shutdown;
use crate::store::{App, ControlStore, WebhookEventKind};
use dispatcher::Dispatcher;
use outbox::Outbox;
use pending::AppEvent;

/// Observations waiting for the outbox task; beyond this, new ones are dropped (and counted).
const BACKLOG: usize = 16_384;

/// Something that happened which an app's webhooks may want to hear about.
#[derive(Debug, Clone)]
pub enum Observation {
    ChannelOccupied {
        app_id: Arc<str>,
        channel: ChannelName,
    },
    ChannelVacated {
        app_id: Arc<str>,
        channel: ChannelName,
    },
    MemberAdded {
        app_id: Arc<str>,
        channel: ChannelName,
        user_id: Arc<str>,
    },
    MemberRemoved {
        app_id: Arc<str>,
        channel: ChannelName,
        user_id: Arc<str>,
    },
    ClientEvent {
        app_id: Arc<str>,
        channel: ChannelName,
        event: String,
        data: String,
        socket_id: SocketId,
        /// The sender's presence member id (sent only for presence channels).
        user_id: Option<Arc<str>>,
    },
    CacheMiss {
        app_id: Arc<str>,
        channel: ChannelName,
    },
    SubscriptionCount {
        app_id: Arc<str>,
        channel: ChannelName,
        count: usize,
    },
}

impl Observation {
    fn app_id(&self) -> &Arc<str> {
        match self {
            Observation::ChannelOccupied { app_id, .. }
            | Observation::ChannelVacated { app_id, .. }
            | Observation::MemberAdded { app_id, .. }
            | Observation::MemberRemoved { app_id, .. }
            | Observation::ClientEvent { app_id, .. }
            | Observation::CacheMiss { app_id, .. }
            | Observation::SubscriptionCount { app_id, .. } => app_id,
        }
    }

    fn kind_and_channel(&self) -> (WebhookEventKind, &ChannelName) {
        match self {
            Observation::ChannelOccupied { channel, .. } => (WebhookEventKind::ChannelOccupied, channel),
            Observation::ChannelVacated { channel, .. } => (WebhookEventKind::ChannelVacated, channel),
            Observation::MemberAdded { channel, .. } => (WebhookEventKind::MemberAdded, channel),
            Observation::MemberRemoved { channel, .. } => (WebhookEventKind::MemberRemoved, channel),
            Observation::ClientEvent { channel, .. } => (WebhookEventKind::ClientEvent, channel),
            Observation::CacheMiss { channel, .. } => (WebhookEventKind::CacheMiss, channel),
            Observation::SubscriptionCount { channel, .. } => (WebhookEventKind::SubscriptionCount, channel),
        }
    }

    /// The app and the event as the webhook body carries it.
    fn into_event(self) -> AppEvent {
        match self {
            Observation::ChannelOccupied { app_id, channel } => (app_id, WebhookEvent::ChannelOccupied { channel }),
            Observation::ChannelVacated { app_id, channel } => (app_id, WebhookEvent::ChannelVacated { channel }),
            Observation::MemberAdded {
                app_id,
                channel,
                user_id,
            } => (app_id, WebhookEvent::MemberAdded { channel, user_id }),
            Observation::MemberRemoved {
                app_id,
                channel,
                user_id,
            } => (app_id, WebhookEvent::MemberRemoved { channel, user_id }),
            Observation::ClientEvent {
                app_id,
                channel,
                event,
                data,
                socket_id,
                user_id,
            } => {
                let user_id = user_id.filter(|_| channel.is_presence());
                let event = WebhookEvent::ClientEvent {
                    channel,
                    event,
                    data,
                    socket_id,
                    user_id,
                };
                (app_id, event)
            }
            Observation::CacheMiss { app_id, channel } => (app_id, WebhookEvent::CacheMiss { channel }),
            Observation::SubscriptionCount { app_id, channel, count } => (
                app_id,
                WebhookEvent::SubscriptionCount {
                    channel,
                    subscription_count: count,
                },
            ),
        }
    }
}

/// The webhooks of this node: where observations go in, and the tasks that queue and deliver them.
pub struct Webhooks {
    apps: Arc<AppDirectory>,
    observations: mpsc::Sender<AppEvent>,
    /// Observations dropped because the outbox task had fallen `BACKLOG` behind.
    dropped: AtomicU64,
}

impl Webhooks {
    /// Starts the batching task and the dispatcher; both stop on shutdown. Retries follow the
    /// default schedule (first after 1 s); `start_with` takes another.
    pub fn start(apps: Arc<AppDirectory>, store: Arc<dyn ControlStore>, shutdown: Shutdown) -> Arc<Self> {
        Self::start_with(apps, store, shutdown, RetrySchedule::default(), None)
    }

    /// `start`, with retries after `retry` (e.g. `RetrySchedule::from_base_ms(config.webhook_retry_base_ms)`).
    pub fn start_with(
        apps: Arc<AppDirectory>,
        store: Arc<dyn ControlStore>,
        shutdown: Shutdown,
        retry: RetrySchedule,
        events: Option<Arc<LifecycleLog>>,
    ) -> Arc<Self> {
        let (tx, rx) = mpsc::channel(BACKLOG);
        let queued = Arc::new(Notify::new());
        let outbox = Outbox {
            apps: apps.clone(),
            store: store.clone(),
            queued: queued.clone(),
        };
        tokio::spawn(outbox.run(rx, shutdown.clone()));
        let dispatcher = Dispatcher {
            store,
            client: dispatcher::client(),
            retry,
            wake: queued,
            events,
        };
        tokio::spawn(dispatcher.run(shutdown));
        Arc::new(Webhooks {
            apps,
            observations: tx,
            dropped: AtomicU64::new(0),
        })
    }

    /// Non-blocking, cheap when the app has no endpoint wanting this event (check settings first).
    ///
    /// On the client-event path (per message): an app lookup and a scan of its endpoints; nothing
    /// is allocated unless an endpoint wants the event.
    pub fn observe(&self, observation: Observation) {
        if !self.wants(&observation) {
            return;
        }
        if let Err(mpsc::error::TrySendError::Full(_)) = self.observations.try_send(observation.into_event()) {
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "webhooks: events arrive faster than they are queued; dropping");
            }
        }
    }
}

impl Webhooks {
    /// True when the observation's app has an endpoint that wants it (see `wanted`).
    pub fn wants(&self, observation: &Observation) -> bool {
        self.apps
            .by_id(observation.app_id())
            .is_some_and(|app| wanted(&app, observation))
    }
}

/// True when an endpoint of `app` wants the observation, or wants the held event it may cancel (a
/// `channel_occupied` must reach the outbox to cancel a held `channel_vacated` even when no
/// endpoint wants `channel_occupied` itself).
fn wanted(app: &App, observation: &Observation) -> bool {
    let settings = &app.settings;
    if settings.webhooks.is_empty() {
        return false;
    }
    let (kind, channel) = observation.kind_and_channel();
    let cancels = match kind {
        WebhookEventKind::ChannelOccupied => Some(WebhookEventKind::ChannelVacated),
        WebhookEventKind::MemberAdded => Some(WebhookEventKind::MemberRemoved),
        // Pusher sends subscription_count only when the app has it on, and never for presence.
        WebhookEventKind::SubscriptionCount if !settings.subscription_count || channel.is_presence() => return false,
        _ => None,
    };
    settings
        .webhooks
        .iter()
        .any(|e| e.wants(kind, channel.as_str()) || cancels.is_some_and(|held| e.wants(held, channel.as_str())))
}

/// Unix milliseconds now.
pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AppSettings;

    fn app(webhooks: &str, subscription_count: bool) -> App {
        App {
            id: "1".into(),
            tenant_id: "t".into(),
            name: "a".into(),
            settings: AppSettings {
                webhooks: serde_json::from_str(webhooks).unwrap(),
                subscription_count,
                ..Default::default()
            },
            created_at: 0,
        }
    }

    fn occupied(channel: &str) -> Observation {
        Observation::ChannelOccupied {
            app_id: "1".into(),
            channel: ChannelName::parse(channel).unwrap(),
        }
    }

    #[test]
    fn observations_no_endpoint_wants_are_dropped_early() {
        let none = app("[]", false);
        assert!(!wanted(&none, &occupied("c")));
        let vacate_only = app(r#"[{"url":"https://x.test/","events":["channel_vacated"]}]"#, false);
        assert!(
            wanted(&vacate_only, &occupied("c")),
            "occupied can cancel a held vacate"
        );
        let prefixed = app(
            r#"[{"url":"https://x.test/","events":["channel_occupied"],"channel_prefix":"private-"}]"#,
            false,
        );
        assert!(!wanted(&prefixed, &occupied("c")));
        assert!(wanted(&prefixed, &occupied("private-c")));
    }

    #[test]
    fn subscription_count_needs_the_setting_and_a_non_presence_channel() {
        let count = |channel: &str| Observation::SubscriptionCount {
            app_id: "1".into(),
            channel: ChannelName::parse(channel).unwrap(),
            count: 2,
        };
        let endpoints = r#"[{"url":"https://x.test/","events":["subscription_count"]}]"#;
        assert!(!wanted(&app(endpoints, false), &count("c")));
        assert!(wanted(&app(endpoints, true), &count("c")));
        assert!(!wanted(&app(endpoints, true), &count("presence-c")));
    }

    #[test]
    fn client_events_carry_user_id_only_on_presence_channels() {
        let client_event = |channel: &str| Observation::ClientEvent {
            app_id: "1".into(),
            channel: ChannelName::parse(channel).unwrap(),
            event: "client-x".into(),
            data: "{}".into(),
            socket_id: SocketId::parse("1.2").unwrap(),
            user_id: Some("u".into()),
        };
        let (_, private) = client_event("private-c").into_event();
        assert!(matches!(private, WebhookEvent::ClientEvent { user_id: None, .. }));
        let (_, presence) = client_event("presence-c").into_event();
        assert!(matches!(presence, WebhookEvent::ClientEvent { user_id: Some(_), .. }));
    }
}
