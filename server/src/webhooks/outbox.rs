//! `Outbox`: the task that turns observed events into queued deliveries. It holds vacates and
//! removals (`HeldEvents`), routes each event that counts to the app's endpoints that want it (by
//! the settings of that moment), batches per app and endpoint (`Batches`), and writes each closed
//! batch to the store's queue, from where the dispatcher delivers it.
//!
//! Until a batch is written, its events live only in this task: a crash loses at most the last
//! 100 ms (3 s for held vacates and removals). When the store does not answer, closed batches wait
//! here (at most `MAX_UNSAVED`) and are written once it does. On shutdown everything held or open
//! is written at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::payload::{self, WebhookEvent};
use super::pending::{AppEvent, Batch, BatchKey, Batches, HeldEvents, BATCH_MAX, BATCH_WINDOW, HOLD};
use crate::apps::AppDirectory;
use crate::clock::unix_ms;
use crate::shutdown::Shutdown;
use crate::store::{AppSettings, ControlStore, DeliveryEvent, NewDelivery};

/// Closed batches kept while the store is down; older ones are dropped beyond this.
const MAX_UNSAVED: usize = 10_000;
/// How often writing to a store that failed is retried.
const SAVE_RETRY: Duration = Duration::from_secs(1);

pub(super) struct Outbox {
    pub apps: Arc<AppDirectory>,
    pub store: Arc<dyn ControlStore>,
    /// Woken when a delivery was queued, so the dispatcher claims it at once.
    pub queued: Arc<Notify>,
}

impl Outbox {
    pub async fn run(self, mut observations: mpsc::Receiver<AppEvent>, shutdown: Shutdown) {
        let mut held = HeldEvents::new(HOLD);
        let mut batches = Batches::new(BATCH_WINDOW, BATCH_MAX);
        let mut unsaved: VecDeque<NewDelivery> = VecDeque::new();
        let mut retry_save_at: Option<Instant> = None;
        loop {
            let wake = [held.next_due(), batches.next_due(), retry_save_at]
                .into_iter()
                .flatten()
                .min();
            let sleep = async {
                match wake {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.stopping() => break,
                received = observations.recv() => match received {
                    Some((app, event)) => {
                        let now = Instant::now();
                        if let Some(counts) = held.observe(app, event, now) {
                            self.route(counts, &mut batches, &mut unsaved, now);
                        }
                    }
                    None => break,
                },
                _ = sleep => {}
            }
            let now = Instant::now();
            for counts in held.due(now) {
                self.route(counts, &mut batches, &mut unsaved, now);
            }
            for batch in batches.due(now) {
                unsaved.push_back(delivery(batch));
            }
            if retry_save_at.is_none_or(|at| at <= now) {
                retry_save_at = self.save(&mut unsaved).await.then_some(now + SAVE_RETRY);
            }
        }
        // Stopping: what is held or open cannot wait for its time.
        let now = Instant::now();
        for counts in held.drain() {
            self.route(counts, &mut batches, &mut unsaved, now);
        }
        unsaved.extend(batches.drain().into_iter().map(delivery));
        if self.save(&mut unsaved).await {
            tracing::warn!(
                lost = unsaved.len(),
                "webhooks: the store is down; batches not queued before stopping"
            );
        }
    }

    /// Adds an event that counts to the batch of every endpoint of its app that wants it.
    fn route(
        &self,
        (app_id, event): AppEvent,
        batches: &mut Batches,
        unsaved: &mut VecDeque<NewDelivery>,
        now: Instant,
    ) {
        let Some(app) = self.apps.by_id(&app_id) else { return };
        for url in urls_wanting(&app.settings, &event) {
            let key = BatchKey {
                app_id: app_id.clone(),
                url: Arc::from(url),
            };
            if let Some(full) = batches.add(key, event.clone(), now) {
                unsaved.push_back(delivery(full));
            }
        }
        if unsaved.len() > MAX_UNSAVED {
            let dropped = unsaved.len() - MAX_UNSAVED;
            unsaved.drain(..dropped);
            tracing::warn!(
                dropped,
                "webhooks: the store has been down too long; dropping the oldest batches"
            );
        }
    }

    /// Writes the waiting batches to the store's queue, in order; true when some are still waiting
    /// (the store failed).
    async fn save(&self, unsaved: &mut VecDeque<NewDelivery>) -> bool {
        if unsaved.is_empty() {
            return false;
        }
        let mut saved = false;
        while let Some(next) = unsaved.front() {
            match self.store.enqueue_webhook(next.clone()).await {
                Ok(_) => {
                    unsaved.pop_front();
                    saved = true;
                }
                // The app was deleted meanwhile: its webhooks went with it.
                Err(crate::store::StoreError::NotFound(_)) => {
                    unsaved.pop_front();
                }
                Err(e) => {
                    tracing::warn!(error = %e, waiting = unsaved.len(), "webhooks: cannot queue deliveries; will retry");
                    break;
                }
            }
        }
        if saved {
            self.queued.notify_one();
        }
        !unsaved.is_empty()
    }
}

/// A closed batch as a delivery to queue, stamped now.
fn delivery(batch: Batch) -> NewDelivery {
    let time_ms = unix_ms();
    NewDelivery {
        app_id: batch.key.app_id.to_string(),
        url: batch.key.url.to_string(),
        body: payload::body(time_ms, &batch.events),
        created_at: time_ms,
        events: batch
            .events
            .iter()
            .map(|e| DeliveryEvent {
                name: e.kind(),
                channel: e.channel().as_str().to_string(),
                user_id: e.user_id().map(str::to_string),
            })
            .collect(),
    }
}

/// The distinct endpoint URLs of an app that want `event`.
pub(super) fn urls_wanting<'a>(settings: &'a AppSettings, event: &WebhookEvent) -> Vec<&'a str> {
    let (kind, channel) = (event.kind(), event.channel().as_str());
    let mut urls: Vec<&str> = Vec::new();
    for endpoint in settings.webhooks.iter().filter(|e| e.wants(kind, channel)) {
        if !urls.contains(&endpoint.url.as_str()) {
            urls.push(endpoint.url.as_str());
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChannelName;
    use crate::store::WebhookEndpoint;

    #[test]
    fn events_go_to_each_distinct_url_that_wants_them() {
        let endpoints: Vec<WebhookEndpoint> = serde_json::from_str(
            r#"[
                {"url":"https://a.test/","events":["channel_occupied"]},
                {"url":"https://a.test/","events":["channel_occupied","member_added"],"channel_prefix":"presence-"},
                {"url":"https://b.test/","events":["member_added"],"channel_prefix":"presence-"},
                {"url":"https://c.test/","events":["client_event"]}
            ]"#,
        )
        .unwrap();
        let settings = AppSettings {
            webhooks: endpoints,
            ..Default::default()
        };
        let occupied = WebhookEvent::ChannelOccupied {
            channel: ChannelName::parse("presence-r").unwrap(),
        };
        assert_eq!(urls_wanting(&settings, &occupied), ["https://a.test/"]);
        let added = WebhookEvent::MemberAdded {
            channel: ChannelName::parse("presence-r").unwrap(),
            user_id: "u".into(),
        };
        assert_eq!(urls_wanting(&settings, &added), ["https://a.test/", "https://b.test/"]);
        let vacated = WebhookEvent::ChannelVacated {
            channel: ChannelName::parse("room").unwrap(),
        };
        assert!(urls_wanting(&settings, &vacated).is_empty());
    }
}
