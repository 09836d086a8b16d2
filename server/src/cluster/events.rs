//! The cluster's lifecycle log: events go to `{prefix}.evt.{app}` on core NATS, gathered for a few
//! milliseconds into one message per app (a JSON array; a single event object from older nodes is
//! read too), a JetStream stream keeps them (by age and size), queries read the stream with an
//! ordered consumer from the start of the asked range, and live readers subscribe to the subject.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use async_nats::jetstream::{self, Context};
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::subjects::Subjects;
use crate::clock::unix_ms;
use crate::lifecycle::{EventLogError, EventQuery, EventStore, FlushInbox, FlushRequests, LifecycleEvent, LiveEvents};

/// Events waiting to be published; beyond this, new ones are dropped.
const BACKLOG: usize = 10_000;
/// Most stored messages one query reads before answering with what it found.
const MAX_SCAN: usize = 200_000;
/// How long events are gathered before they are published: one message (and one stored record in
/// the stream) per app and batch rather than per event, which was nats-server's second write for
/// every publish.
const GATHER: Duration = Duration::from_millis(20);
/// How far (ms) past a query's `until` the stream is read before it is sure no later-published
/// event is still in range: batches of several nodes reach the stream up to a gather window apart.
const OUT_OF_ORDER_MS: i64 = 1_000;
/// A batch's size in bytes beyond which it is sent as it is (well under NATS's 1 MiB payload limit).
const BATCH_BYTES: usize = 256 * 1024;

pub struct JetStreamEvents {
    client: async_nats::Client,
    js: Context,
    subjects: Subjects,
    max_age: Duration,
    max_bytes: i64,
    stream: tokio::sync::OnceCell<stream::Stream>,
    outbound: mpsc::Sender<LifecycleEvent>,
    flushes: FlushRequests,
}

impl JetStreamEvents {
    pub fn start(client: async_nats::Client, subjects: Subjects, max_age: Duration, max_bytes: i64) -> Arc<Self> {
        let (outbound, rx) = mpsc::channel::<LifecycleEvent>(BACKLOG);
        let (flushes, inbox) = FlushRequests::new();
        let events = Arc::new(JetStreamEvents {
            js: jetstream::new(client.clone()),
            client,
            subjects,
            max_age,
            max_bytes,
            stream: tokio::sync::OnceCell::new(),
            outbound,
            flushes,
        });
        tokio::spawn(publish_events(events.clone(), rx, inbox));
        events
    }

    async fn stream(&self) -> Result<&stream::Stream, EventLogError> {
        self.stream
            .get_or_try_init(|| async {
                let (name, subject) = self.subjects.events_stream();
                let config = stream::Config {
                    name: name.clone(),
                    subjects: vec![subject],
                    storage: StorageType::File,
                    max_age: self.max_age,
                    max_bytes: self.max_bytes,
                    discard: DiscardPolicy::Old,
                    ..Default::default()
                };
                super::streams::open(&self.js, config)
                    .await
                    .map_err(|e| EventLogError::failed("opening the events stream", e))
            })
            .await
    }
}

#[async_trait]
impl EventStore for JetStreamEvents {
    fn append(&self, event: LifecycleEvent) {
        let _ = self.outbound.try_send(event);
    }

    async fn query(&self, app_id: &str, query: &EventQuery) -> Result<Vec<LifecycleEvent>, EventLogError> {
        let stream = self.stream().await?;
        let since = query.since.unwrap_or(unix_ms() - 3_600_000);
        let start_time = time::OffsetDateTime::from_unix_timestamp_nanos(since as i128 * 1_000_000)
            .map_err(|e| EventLogError::failed("reading `since`", e))?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                filter_subject: self.subjects.events(app_id),
                deliver_policy: DeliverPolicy::ByStartTime { start_time },
                ..Default::default()
            })
            .await
            .map_err(|e| EventLogError::failed("reading the events stream", e))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| EventLogError::failed("reading the events stream", e))?;
        let mut newest: VecDeque<LifecycleEvent> = VecDeque::with_capacity(query.limit);
        for _ in 0..MAX_SCAN {
            let next = tokio::time::timeout(Duration::from_secs(2), messages.next()).await;
            let Ok(Some(Ok(message))) = next else { break };
            let pending = message.info().map(|i| i.pending).unwrap_or(0);
            for event in decode(&message.payload) {
                match query.until {
                    Some(until) if event.time > until + OUT_OF_ORDER_MS => return Ok(newest_first(newest)),
                    Some(until) if event.time > until => continue,
                    _ => {}
                }
                if query.matches(&event) {
                    if newest.len() == query.limit {
                        newest.pop_front();
                    }
                    newest.push_back(event);
                }
            }
            if pending == 0 {
                break;
            }
        }
        Ok(newest_first(newest))
    }

    async fn live(&self, app_id: &str) -> Result<LiveEvents, EventLogError> {
        let subscriber = self
            .client
            .subscribe(self.subjects.events(app_id))
            .await
            .map_err(|e| EventLogError::failed("subscribing to the live events", e))?;
        // A request after the subscription comes back (as "no responders") once the server has
        // processed the subscription, so events from now on reach this reader.
        let probe = self.client.request(self.subjects.probe("events"), bytes::Bytes::new());
        let _ = tokio::time::timeout(Duration::from_secs(2), probe).await;
        let events = subscriber.flat_map(|m| futures_util::stream::iter(decode(&m.payload)));
        Ok(events.boxed())
    }

    async fn flush(&self) {
        self.flushes.flush().await
    }
}

/// The events found, newest first by time: the stream holds each node's batches in the order they
/// were published, so events of different nodes (and of different tasks of one node) can be up to a
/// gather window out of time order there.
fn newest_first(found: VecDeque<LifecycleEvent>) -> Vec<LifecycleEvent> {
    let mut events: Vec<LifecycleEvent> = found.into_iter().rev().collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.time));
    events
}

/// Publishes events as they come, gathered per app for `GATHER`, and at once when asked to flush
/// (then waiting until the server has them).
async fn publish_events(
    publisher: Arc<JetStreamEvents>,
    mut rx: mpsc::Receiver<LifecycleEvent>,
    mut flushes: FlushInbox,
) {
    // The stream must exist before events are published, or they would not be kept.
    while publisher.stream().await.is_err() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    loop {
        let mut batches = Batches::default();
        let flush = tokio::select! {
            first = rx.recv() => {
                let Some(first) = first else { return };
                tokio::time::sleep(GATHER).await;
                batches.add(&first);
                None
            }
            asked = flushes.recv() => match asked {
                Some(done) => Some(done),
                None => return, // the store is gone
            },
        };
        while let Ok(event) = rx.try_recv() {
            batches.add(&event);
        }
        for (app_id, payload) in batches.finish() {
            let subject = publisher.subjects.events(&app_id);
            if let Err(e) = publisher.client.publish(subject, payload.into()).await {
                tracing::debug!(error = %e, "lifecycle events not published");
            }
        }
        if let Some(done) = flush {
            // A round trip to the server: it has every message published before.
            let _ = publisher.client.flush().await;
            let _ = done.send(());
        }
    }
}

/// Events encoded into one JSON array per app, in the order they came.
#[derive(Default)]
struct Batches {
    /// Each app's batch being filled; a batch is closed (`]`) when it moves to `done`.
    open: HashMap<String, Vec<u8>>,
    done: Vec<(String, Vec<u8>)>,
}

impl Batches {
    fn add(&mut self, event: &LifecycleEvent) {
        let batch = self.open.entry(event.app_id.clone()).or_default();
        let before = batch.len();
        batch.push(if batch.is_empty() { b'[' } else { b',' });
        // Encoded straight into the batch; an event that does not encode leaves it as it was.
        if serde_json::to_writer(&mut *batch, event).is_err() {
            batch.truncate(before);
            return;
        }
        if batch.len() >= BATCH_BYTES {
            let full = std::mem::take(batch);
            self.close(event.app_id.clone(), full);
        }
    }

    fn close(&mut self, app_id: String, mut batch: Vec<u8>) {
        batch.push(b']');
        self.done.push((app_id, batch));
    }

    /// Every batch, closed; each app's in the order its events came.
    fn finish(mut self) -> Vec<(String, Vec<u8>)> {
        let open: Vec<_> = self.open.drain().filter(|(_, b)| !b.is_empty()).collect();
        for (app_id, batch) in open {
            self.close(app_id, batch);
        }
        self.done
    }
}

/// The events of one stored or live message: a batch (an array) or, from older nodes, one event.
/// An event this node cannot read (a kind from a newer node) is skipped, not its whole batch.
fn decode(payload: &[u8]) -> Vec<LifecycleEvent> {
    match payload.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<&serde_json::value::RawValue>>(payload)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|raw| serde_json::from_str(raw.get()).ok())
            .collect(),
        _ => serde_json::from_slice(payload).map(|e| vec![e]).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::EventKind;

    fn event(app: &str, reason: &str) -> LifecycleEvent {
        LifecycleEvent::new(EventKind::PublishRefused, app).reason(reason.to_string())
    }

    fn reasons(events: &[LifecycleEvent]) -> Vec<String> {
        events.iter().map(|e| e.reason.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn events_are_gathered_per_app_in_order_and_read_back() {
        let mut batches = Batches::default();
        for (app, reason) in [("a", "1"), ("b", "2"), ("a", "3")] {
            batches.add(&event(app, reason));
        }
        let mut done = batches.finish();
        done.sort();
        assert_eq!(done.len(), 2);
        assert_eq!(done[0].0, "a");
        assert_eq!(reasons(&decode(&done[0].1)), ["1", "3"]);
        assert_eq!(reasons(&decode(&done[1].1)), ["2"]);
    }

    #[test]
    fn a_full_batch_is_closed_and_the_next_event_starts_another() {
        let mut batches = Batches::default();
        let big = "x".repeat(BATCH_BYTES);
        batches.add(&event("a", &big));
        batches.add(&event("a", "after"));
        let done = batches.finish();
        assert_eq!(done.len(), 2);
        assert_eq!(reasons(&decode(&done[0].1)), [big]);
        assert_eq!(reasons(&decode(&done[1].1)), ["after"]);
    }

    #[test]
    fn found_events_are_answered_newest_first_by_time() {
        let found: VecDeque<LifecycleEvent> = [(10, "a"), (30, "c"), (20, "b"), (30, "d")]
            .into_iter()
            .map(|(time, reason)| LifecycleEvent {
                time,
                ..event("app", reason)
            })
            .collect();
        // Equal times keep the stream's order, later-stored first.
        assert_eq!(reasons(&newest_first(found)), ["d", "c", "b", "a"]);
    }

    #[test]
    fn a_single_event_from_an_older_node_is_read() {
        let payload = serde_json::to_vec(&event("a", "old")).expect("serializes");
        assert_eq!(reasons(&decode(&payload)), ["old"]);
        assert!(decode(b"not json").is_empty());
    }

    #[test]
    fn an_unreadable_event_is_skipped_not_its_batch() {
        let good = String::from_utf8(serde_json::to_vec(&event("a", "good")).expect("serializes")).expect("utf-8");
        let payload = format!(r#"[{{"kind":"from_a_newer_node"}},{good}]"#);
        assert_eq!(reasons(&decode(payload.as_bytes())), ["good"]);
    }
}
