//! Lifecycle events of a node without a cluster, in the control store (SQLite or Postgres): written
//! in batches off the hot paths, pruned by age and by a count per app; live readers get them from an
//! in-process broadcast.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{EventLogError, EventQuery, EventStore, FlushInbox, FlushRequests, LifecycleEvent, LiveEvents};
use crate::clock::unix_ms;
use crate::config::EventLogConfig;
use crate::store::{ControlStore, EventFilter, EventRow};

/// Events waiting to be written; beyond this (a store down for long), new ones are dropped.
const BACKLOG: usize = 10_000;
/// Events written in one transaction.
const BATCH: usize = 500;
/// How often waiting events are written.
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// How often old events are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

pub struct SqlEvents {
    store: Arc<dyn ControlStore>,
    outbound: mpsc::Sender<LifecycleEvent>,
    live: broadcast::Sender<Arc<LifecycleEvent>>,
    flushes: FlushRequests,
}

impl SqlEvents {
    /// Starts the writer; it runs until this store is dropped, writing what is left then, so the
    /// closes of a stopping node's sessions are kept too (`flush` waits for them).
    pub fn start(store: Arc<dyn ControlStore>, config: &EventLogConfig) -> Arc<Self> {
        let (outbound, rx) = mpsc::channel(BACKLOG);
        let (flushes, inbox) = FlushRequests::new();
        let events = Arc::new(SqlEvents {
            store: store.clone(),
            outbound,
            live: broadcast::channel(1024).0,
            flushes,
        });
        let keep = (config.max_events as i64, config.max_age.as_millis() as i64);
        tokio::spawn(write(store, rx, inbox, keep));
        events
    }
}

/// Why the writer woke.
enum Wake {
    Tick,
    Flush(oneshot::Sender<()>),
    /// The store is gone: write what is left and stop.
    Closed,
}

/// Writes waiting events every `FLUSH_EVERY` and when asked, and prunes every `PRUNE_EVERY`, until
/// the store is dropped.
async fn write(
    store: Arc<dyn ControlStore>,
    mut rx: mpsc::Receiver<LifecycleEvent>,
    mut flushes: FlushInbox,
    (keep_per_app, max_age_ms): (i64, i64),
) {
    let mut waiting: Vec<EventRow> = Vec::new();
    let mut next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
    loop {
        let wake = tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => Wake::Tick,
            asked = flushes.recv() => asked.map_or(Wake::Closed, Wake::Flush),
        };
        while waiting.len() < BACKLOG {
            let Ok(e) = rx.try_recv() else { break };
            waiting.push(row(e));
        }
        for batch in waiting.chunks(BATCH) {
            if let Err(e) = store.append_events(batch).await {
                tracing::debug!(error = %e, "lifecycle events not written yet");
                break;
            }
        }
        waiting.clear();
        if tokio::time::Instant::now() >= next_prune {
            next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
            if let Err(e) = store.prune_events(unix_ms() - max_age_ms, keep_per_app).await {
                tracing::warn!(error = %e, "cannot remove old lifecycle events");
            }
        }
        match wake {
            Wake::Tick => {}
            Wake::Flush(done) => {
                let _ = done.send(());
            }
            Wake::Closed => return,
        }
    }
}

/// Bytes reserved for an event's JSON: most fit, so writing it does not grow the buffer step by step
/// (the growing was about a fifth of serializing a publish's event).
const BODY_CAPACITY: usize = 512;

/// The row of `e`: the columns queries filter on, moved out of it, and the whole event as JSON.
fn row(e: LifecycleEvent) -> EventRow {
    let mut body = Vec::with_capacity(BODY_CAPACITY);
    // Serializing an event fails only on a map with non-string keys, which details never hold.
    let body = match serde_json::to_writer(&mut body, &e) {
        Ok(()) => String::from_utf8(body).unwrap_or_default(),
        Err(_) => String::new(),
    };
    EventRow {
        app_id: e.app_id,
        time: e.time,
        kind: e.kind.as_str(),
        socket_id: e.socket_id,
        user_id: e.user_id,
        channel: e.channel,
        body,
    }
}

#[async_trait]
impl EventStore for SqlEvents {
    fn append(&self, event: LifecycleEvent) {
        // A copy for the live readers only when there are some (most of the time there are none).
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(Arc::new(event.clone()));
        }
        let _ = self.outbound.try_send(event);
    }

    async fn query(&self, app_id: &str, query: &EventQuery) -> Result<Vec<LifecycleEvent>, EventLogError> {
        let filter = EventFilter {
            since: query.since.unwrap_or(unix_ms() - 3_600_000),
            until: query.until.unwrap_or(i64::MAX),
            kinds: query.kinds.iter().map(|k| k.as_str().to_string()).collect(),
            channel: query.channel.clone(),
            socket_id: query.socket_id.clone(),
            user_id: query.user_id.clone(),
            limit: query.limit as i64,
        };
        let bodies = self
            .store
            .query_events(app_id, &filter)
            .await
            .map_err(|e| EventLogError::failed("reading the control store", e))?;
        Ok(bodies.iter().filter_map(|b| serde_json::from_str(b).ok()).collect())
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

    async fn flush(&self) {
        self.flushes.flush().await
    }
}
