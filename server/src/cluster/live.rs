//! Live channel delivery: one task per channel this node listens to (see `interest.rs`) delivers it
//! in order.
//!
//! The task keeps the channel's cursor: the serial of the last stored message it delivered. Stored
//! messages arrive republished by JetStream with their sequence; one whose `prev` is beyond the cursor
//! means the live path lost something, so the task first delivers what is missing from the store,
//! following the chain of `prev`s (a link the store cannot give sends the subscribers away to resume
//! rather than skip it). A NATS reconnect or a slow-consumer drop makes it check the store for
//! messages it may have missed; so do tail checks shortly after the channel is joined (with several
//! NATS servers, the subscription's interest reaches the others a little later) and a while after
//! its last message (a lost last message has no successor to reveal it). New subscribers are
//! attached by the same task, between two deliveries, so their replay meets the live stream without a
//! gap or a duplicate.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::interest::AttachRequest;
use super::recent::RecentMessages;
use super::record;
use super::store::MessageStore;
use super::tail::TailChecks;
use crate::bus::Deliver;
use crate::channel_key::ChannelKey;
use crate::clock::unix_ms;
use crate::history::{try_plan_start, NotRecovered, Position, StartFrom, StreamStart};
use crate::history::{ChannelReader, HistoryError};
use crate::hub::Hub;
use crate::message::ChannelMessage;
use crate::protocol::CloseCode;

/// Delivers one channel on this node, in order.
pub(super) struct ChannelTask {
    key: ChannelKey,
    hub: Arc<Hub>,
    store: Arc<MessageStore>,
    /// The serial of the last stored message delivered (`None` until known).
    cursor: Option<u64>,
    /// The newest delivered messages: most resumes are served from here at once.
    recent: RecentMessages,
    /// Where plans read from the store (off the delivery loop) come back.
    planned: mpsc::UnboundedSender<Planned>,
}

/// A start planned from the store, up to `upto`, waiting to be attached.
struct Planned {
    request: AttachRequest,
    start: StreamStart,
    upto: u64,
}

/// Longest wait for one store read inside the delivery loop.
const STORE_READ: Duration = Duration::from_secs(2);

/// How long a plan that needs the store keeps retrying it (e.g. across a NATS restart).
const PLAN_DEADLINE: Duration = Duration::from_secs(30);

impl ChannelTask {
    /// Starts delivering `key` from `sub`; subscribers to attach come through `requests`.
    pub(super) fn spawn(
        key: ChannelKey,
        hub: Arc<Hub>,
        store: Arc<MessageStore>,
        sub: async_nats::Subscriber,
        requests: mpsc::UnboundedReceiver<AttachRequest>,
        reconnects: watch::Receiver<u64>,
    ) -> tokio::task::AbortHandle {
        let (planned, plans) = mpsc::unbounded_channel();
        let task = ChannelTask {
            key,
            hub,
            store,
            cursor: None,
            recent: RecentMessages::default(),
            planned,
        };
        tokio::spawn(task.run(sub, requests, plans, reconnects)).abort_handle()
    }

    async fn run(
        mut self,
        mut sub: async_nats::Subscriber,
        mut requests: mpsc::UnboundedReceiver<AttachRequest>,
        mut plans: mpsc::UnboundedReceiver<Planned>,
        mut reconnects: watch::Receiver<u64>,
    ) {
        // Without the stream open yet (NATS or JetStream still starting), delivery starts with the
        // first live message instead of waiting for it.
        if self.store.opened_epoch().is_some() {
            self.cursor = self.start_cursor().await;
        }
        let mut checks = TailChecks::new(Instant::now());
        loop {
            let check = checks.next_at();
            tokio::select! {
                msg = sub.next() => match msg {
                    Some(msg) => {
                        if self.on_live(msg).await {
                            checks.after_message(Instant::now());
                        }
                    }
                    None => break,
                },
                Some(request) = requests.recv() => self.on_attach(request).await,
                Some(planned) = plans.recv() => self.on_planned(planned),
                Ok(()) = reconnects.changed() => {
                    self.catch_up(u64::MAX).await;
                }
                () = tokio::time::sleep_until(check.unwrap_or_else(far_future)), if check.is_some() => {
                    checks.fired(Instant::now());
                    self.check_tail().await;
                }
            }
        }
    }

    /// Delivers what the store holds beyond the cursor, if anything (see `TailChecks`).
    async fn check_tail(&mut self) {
        let Some(cursor) = self.cursor else { return };
        let last = tokio::time::timeout(STORE_READ, self.store.last_serial(&self.key)).await;
        if let Ok(Ok(Some(last))) = last {
            if last > cursor && !self.catch_up(last).await {
                self.send_subscribers_away();
            }
        }
    }

    fn send_subscribers_away(&self) {
        // Rather than skip messages, the subscribers reconnect after a back-off and resume (4100).
        let reason = "Messages of this channel could not be delivered in order; reconnect and resume";
        self.hub
            .channels
            .close_subscribers(&self.key, CloseCode::OverCapacity, reason);
    }

    /// Where delivery starts: after the channel's last stored message, or (when it has none) after
    /// the stream's last message, so every later message of the channel is delivered.
    async fn start_cursor(&self) -> Option<u64> {
        let read = async {
            match self.store.last_serial(&self.key).await {
                Ok(Some(last)) => Some(last),
                Ok(None) => self.store.stream_last().await.ok(),
                Err(_) => None,
            }
        };
        tokio::time::timeout(STORE_READ, read).await.ok().flatten()
    }

    /// Delivers a message heard on the live subject; true when it was a stored message.
    async fn on_live(&mut self, msg: async_nats::Message) -> bool {
        let sequence = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("Nats-Sequence"))
            .and_then(|v| v.as_str().parse::<u64>().ok());
        let Some(sequence) = sequence else {
            // A client event: not stored, delivered as it comes.
            match serde_json::from_slice::<ChannelMessage>(&msg.payload) {
                Ok(message) => {
                    crate::metrics::observe_bus_lag(message.published_ms);
                    self.hub.deliver(&message)
                }
                Err(e) => tracing::warn!(error = %e, "unreadable message on the bus"),
            }
            return false;
        };
        if self.cursor.is_some_and(|c| record::through(sequence) <= c) {
            return true;
        }
        let Ok(epoch) = self.store.epoch().await else {
            return true;
        };
        for message in record::decode(&msg.payload, sequence, epoch) {
            if self.cursor.is_some_and(|c| message.serial <= c) {
                continue;
            }
            crate::metrics::observe_bus_lag(message.published_ms);
            if self.cursor.is_some_and(|c| message.prev > c) {
                // The live path lost messages: the store fills the gap, up to this one's predecessor.
                let filled = self.catch_up(message.serial - 1).await && self.cursor.is_some_and(|c| c >= message.prev);
                if !filled {
                    // Not delivered (nor counted as delivered): the store gives it with the rest later.
                    self.send_subscribers_away();
                    return true;
                }
            }
            self.deliver(Arc::new(message));
        }
        true
    }

    fn deliver(&mut self, message: Arc<ChannelMessage>) {
        self.hub.deliver(&message);
        self.cursor = Some(message.serial);
        self.recent.push(message);
    }

    /// Delivers the stored messages after the cursor up to `upto` (inclusive), each only if it
    /// follows the last one delivered (its `prev` is not beyond the cursor); false if the store could
    /// not be read, or the chain breaks there (the missing message expired, or the replica that
    /// answered does not have it yet).
    async fn catch_up(&mut self, upto: u64) -> bool {
        let Some(mut cursor) = self.cursor else {
            self.cursor = self.start_cursor().await;
            return false;
        };
        let store = self.store.clone();
        let Ok(reader) = store.reader(&self.key).await else {
            return false;
        };
        let mut complete = true;
        loop {
            // Bounded: a store that is slow to answer (a stream electing its leader) must not hold
            // the channel's deliveries and subscribers; the next live message finds the gap again.
            let next = tokio::time::timeout(STORE_READ, reader.next_after(cursor)).await;
            let next = next.unwrap_or_else(|_| Err(HistoryError::unavailable("store read timed out")));
            match next {
                Ok(Some(message)) if message.serial <= upto && message.prev > cursor => {
                    tracing::warn!(channel = %self.key.channel.as_str(), missing = message.prev, "a message of the channel is not in the store");
                    complete = false;
                    break;
                }
                Ok(Some(message)) if message.serial <= upto => {
                    crate::metrics::GAP_FILLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    cursor = message.serial;
                    self.deliver(message);
                }
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, channel = %self.key.channel.as_str(), "cannot fill a gap from the store");
                    complete = false;
                    break;
                }
            }
        }
        self.cursor = Some(cursor);
        complete
    }

    async fn on_attach(&mut self, request: AttachRequest) {
        // A subscriber is never kept waiting for a stream that is not open yet: it starts from now,
        // and a resume or rewind it asked for is answered `unavailable`.
        let Some(epoch) = self.store.opened_epoch() else {
            let reason = request.from.map(|_| NotRecovered::Unavailable);
            return (request.attach)(StreamStart::at(Position::default(), reason));
        };
        if self.cursor.is_none() {
            self.cursor = self.start_cursor().await;
        }
        let Some(_) = self.cursor else {
            let reason = request.from.map(|_| NotRecovered::Unavailable);
            return (request.attach)(StreamStart::at(Position { epoch, serial: 0 }, reason));
        };
        // A client that saw more than this node delivered (on another node): catch up to it first.
        if let Some(StartFrom::Resume(p)) = request.from {
            let cursor = self.cursor.unwrap_or(0);
            if p.epoch == epoch
                && p.serial > cursor
                && self.store.stream_last().await.is_ok_and(|l| p.serial <= l)
                && self.catch_up(p.serial).await
            {
                // Nothing of this channel lies between: its position is now this node's too.
                self.cursor = Some(p.serial.max(self.cursor.unwrap_or(0)));
            }
        }
        let upto = self.cursor.unwrap_or(0);
        let now = unix_ms();
        match try_plan_start(&self.recent, epoch, upto, request.from, request.retention, now).await {
            Ok(start) => (request.attach)(start),
            // Older than what this node keeps in memory: read the store off the delivery loop.
            Err(_) => self.plan_from_store(request, epoch, upto),
        }
    }

    /// Plans a start from the store in a task of its own (retrying across a NATS outage), then hands
    /// it back to the delivery loop.
    fn plan_from_store(&self, request: AttachRequest, epoch: u64, upto: u64) {
        let (store, key, back) = (self.store.clone(), self.key.clone(), self.planned.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + PLAN_DEADLINE;
            let start = loop {
                let read = match store.reader(&key).await {
                    Ok(reader) => {
                        try_plan_start(&reader, epoch, upto, request.from, request.retention, unix_ms()).await
                    }
                    Err(e) => Err(e),
                };
                match read {
                    Ok(start) => break start,
                    Err(e) if tokio::time::Instant::now() >= deadline => {
                        tracing::warn!(error = %e, "history unavailable for a resume or rewind");
                        let current = Position { epoch, serial: upto };
                        break StreamStart::at(current, Some(NotRecovered::Unavailable));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
                }
            };
            let _ = back.send(Planned { request, start, upto });
        });
    }

    /// Attaches a start planned from the store, adding what this node delivered since it was read.
    fn on_planned(&mut self, planned: Planned) {
        let Planned {
            request,
            mut start,
            upto,
        } = planned;
        let cursor = self.cursor.unwrap_or(upto);
        if cursor > upto {
            match start.recovered {
                Some(Ok(())) => match self.recent.after(upto) {
                    Some(since) => start.replay.extend(since),
                    None => return self.plan_from_store(request, start.position.epoch, cursor),
                },
                _ => start.position.serial = cursor,
            }
        }
        (request.attach)(start);
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
