//! Lifecycle events of a single node, in memory: per app, the newest `max_events` not older than
//! `max_age`; lost when the process stops.

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;
use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::sync::broadcast;

use super::{EventLogError, EventQuery, EventStore, LifecycleEvent, LiveEvents};
use crate::message::now_ms;

pub struct MemoryEvents {
    max_events: usize,
    max_age_ms: i64,
    apps: DashMap<String, Arc<Mutex<VecDeque<LifecycleEvent>>>>,
    live: broadcast::Sender<Arc<LifecycleEvent>>,
}

impl MemoryEvents {
    pub fn new(max_events: usize, max_age_secs: u64) -> Self {
        MemoryEvents {
            max_events: max_events.max(1),
            max_age_ms: max_age_secs as i64 * 1000,
            apps: DashMap::new(),
            live: broadcast::channel(1024).0,
        }
    }
}

#[async_trait]
impl EventStore for MemoryEvents {
    fn append(&self, event: LifecycleEvent) {
        let log = self.apps.entry(event.app_id.clone()).or_default().clone();
        let oldest = event.time - self.max_age_ms;
        {
            let mut log = log.lock();
            while log.len() >= self.max_events || log.front().is_some_and(|e| e.time < oldest) {
                log.pop_front();
            }
            log.push_back(event.clone());
        }
        let _ = self.live.send(Arc::new(event));
    }

    async fn query(&self, app_id: &str, query: &EventQuery) -> Result<Vec<LifecycleEvent>, EventLogError> {
        let Some(log) = self.apps.get(app_id).map(|l| l.clone()) else {
            return Ok(Vec::new());
        };
        let oldest = now_ms() - self.max_age_ms;
        let log = log.lock();
        let found = log
            .iter()
            .rev()
            .filter(|e| e.time >= oldest && query.matches(e))
            .take(query.limit)
            .cloned()
            .collect();
        Ok(found)
    }

    async fn live(&self, app_id: &str) -> Result<LiveEvents, EventLogError> {
        let app = app_id.to_string();
        let stream = futures_util::stream::unfold(self.live.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(event) => return Some(((*event).clone(), rx)),
                    // A slow reader skips what it missed rather than ending the stream.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Ok(stream.filter(move |e| std::future::ready(e.app_id == app)).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::EventKind;

    #[tokio::test]
    async fn keeps_the_newest_per_app_and_answers_newest_first() {
        let events = MemoryEvents::new(3, 3600);
        for i in 0..5 {
            events.append(LifecycleEvent::new(EventKind::ConnectionOpened, "a").socket(format!("1.{i}")));
        }
        events.append(LifecycleEvent::new(EventKind::ConnectionOpened, "b"));
        let q = EventQuery {
            limit: 10,
            ..Default::default()
        };
        let found = events.query("a", &q).await.unwrap();
        let ids: Vec<_> = found.iter().map(|e| e.socket_id.clone().unwrap()).collect();
        assert_eq!(ids, ["1.4", "1.3", "1.2"]);
        assert_eq!(events.query("b", &q).await.unwrap().len(), 1);
    }
}
