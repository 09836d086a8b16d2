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
pub mod egress;
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
use crate::shutdown::Shutdown;
use crate::store::{App, ControlStore, WebhookEventKind};
use dispatcher::Dispatcher;
use egress::EgressPolicy;
use outbox::Outbox;
use pending::AppEvent;

/// Observations waiting for the outbox task; beyond this, new ones are dropped (and counted).
const BACKLOG: usize = 16_384;

/// Something that happened which an app's webhooks may want to hear about: the event as the
/// webhook body carries it, and the app it happened in.
#[derive(Debug, Clone)]
pub struct Observation {
    pub app_id: Arc<str>,
    pub event: WebhookEvent,
}

impl Observation {
    pub fn new(app_id: Arc<str>, event: WebhookEvent) -> Self {
        Observation { app_id, event }
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
        Self::start_with(
            apps,
            store,
            shutdown,
            RetrySchedule::default(),
            EgressPolicy::default(),
            None,
        )
    }

    /// `start`, with retries after `retry` (e.g. `RetrySchedule::after(config.webhooks.retry_base)`)
    /// and deliveries only where `policy` allows.
    pub fn start_with(
        apps: Arc<AppDirectory>,
        store: Arc<dyn ControlStore>,
        shutdown: Shutdown,
        retry: RetrySchedule,
        policy: EgressPolicy,
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
        let policy = Arc::new(policy);
        let dispatcher = Dispatcher {
            store,
            client: dispatcher::client(policy.clone()),
            policy,
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
        if let Err(mpsc::error::TrySendError::Full(_)) =
            self.observations.try_send((observation.app_id, observation.event))
        {
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
            .by_id(&observation.app_id)
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
    let (kind, channel) = (observation.event.kind(), observation.event.channel());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelName;
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
        let channel = ChannelName::parse(channel).unwrap();
        Observation::new("1".into(), WebhookEvent::ChannelOccupied { channel })
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
        let count = |channel: &str| {
            let channel = ChannelName::parse(channel).unwrap();
            Observation::new(
                "1".into(),
                WebhookEvent::SubscriptionCount {
                    channel,
                    subscription_count: 2,
                },
            )
        };
        let endpoints = r#"[{"url":"https://x.test/","events":["subscription_count"]}]"#;
        assert!(!wanted(&app(endpoints, false), &count("c")));
        assert!(wanted(&app(endpoints, true), &count("c")));
        assert!(!wanted(&app(endpoints, true), &count("presence-c")));
    }
}
