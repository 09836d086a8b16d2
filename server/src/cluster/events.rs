//! The cluster's lifecycle log: events go to `{prefix}.evt.{app}` on core NATS, a JetStream stream
//! keeps them (by age and size), queries read the stream with an ordered consumer from the start of
//! the asked range, and live readers subscribe to the subject.

use std::collections::VecDeque;
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
use crate::lifecycle::{EventLogError, EventQuery, EventStore, LifecycleEvent, LiveEvents};

/// Events waiting to be published; beyond this, new ones are dropped.
const BACKLOG: usize = 10_000;
/// Most stored events one query reads before answering with what it found.
const MAX_SCAN: usize = 200_000;

pub struct JetStreamEvents {
    client: async_nats::Client,
    js: Context,
    subjects: Subjects,
    max_age: Duration,
    max_bytes: i64,
    stream: tokio::sync::OnceCell<stream::Stream>,
    outbound: mpsc::Sender<LifecycleEvent>,
}

impl JetStreamEvents {
    pub fn start(client: async_nats::Client, subjects: Subjects, max_age: Duration, max_bytes: i64) -> Arc<Self> {
        let (outbound, mut rx) = mpsc::channel::<LifecycleEvent>(BACKLOG);
        let events = Arc::new(JetStreamEvents {
            js: jetstream::new(client.clone()),
            client,
            subjects,
            max_age,
            max_bytes,
            stream: tokio::sync::OnceCell::new(),
            outbound,
        });
        let publisher = events.clone();
        tokio::spawn(async move {
            // The stream must exist before events are published, or they would not be kept.
            while publisher.stream().await.is_err() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            while let Some(event) = rx.recv().await {
                let Ok(payload) = serde_json::to_vec(&event) else {
                    continue;
                };
                let subject = publisher.subjects.events(&event.app_id);
                if let Err(e) = publisher.client.publish(subject, payload.into()).await {
                    tracing::debug!(error = %e, "lifecycle event not published");
                }
            }
        });
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
            if let Ok(event) = serde_json::from_slice::<LifecycleEvent>(&message.payload) {
                if query.until.is_some_and(|u| event.time > u) {
                    break;
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
        Ok(newest.into_iter().rev().collect())
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
        let events = subscriber.filter_map(|m| std::future::ready(serde_json::from_slice(&m.payload).ok()));
        Ok(events.boxed())
    }
}
