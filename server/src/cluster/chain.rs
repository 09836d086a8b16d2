//! One channel's publishes on this node, stored in order and together (group commit). A publish
//! joins the channel's queue, then waits for the channel's writer lock; whoever holds it stores
//! what is queued, a record at a time (`take_record`), and answers each publish, so while one
//! JetStream write is in flight the publishes behind it gather into the next record.
//!
//! The writer lock also holds the serial of the channel's last stored message as this node knows
//! it (`None`: read it from the stream), the `prev` of the next record. `Chains` keeps a chain per
//! channel published to lately and lets go of those idle for a while (their next publish reads the
//! last serial from the stream again).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::record::SLOTS;
use crate::bus::StoreOptions;
use crate::channel_key::ChannelKey;
use crate::history::{HistoryError, Position};
use crate::message::ChannelMessage;

/// Bytes of messages one record gathers at most (a larger message goes alone).
const RECORD_BYTES: usize = 256 * 1024;

/// A publish waiting to be stored.
pub struct Waiting {
    pub message: ChannelMessage,
    pub options: StoreOptions,
    pub answer: oneshot::Sender<Result<Stored, HistoryError>>,
}

/// Where a publish was stored.
#[derive(Debug, Clone, Copy)]
pub struct Stored {
    pub position: Position,
    pub prev: u64,
    /// Stored before under its idempotency key: nothing new was stored.
    pub duplicate: bool,
}

/// A channel's queue and writer lock.
#[derive(Default)]
pub struct Chain {
    pub queue: Mutex<VecDeque<Waiting>>,
    pub writer: tokio::sync::Mutex<Option<u64>>,
    /// Published to since the last `Chains::let_go_idle`.
    used: AtomicBool,
}

/// The chains of the channels published to on this node lately.
#[derive(Default)]
pub struct Chains {
    chains: DashMap<ChannelKey, Arc<Chain>>,
}

impl Chains {
    /// The channel's chain, made when it has none.
    pub fn of(&self, key: ChannelKey) -> Arc<Chain> {
        let chain = self.chains.entry(key).or_default().clone();
        chain.used.store(true, Ordering::Relaxed);
        chain
    }

    /// Forgets the chains no publish used since the last call and none is using now (a chain in
    /// use is held by its publishes; `of` clones under the same map lock `retain` holds, so no
    /// channel ever has two chains at once).
    pub fn let_go_idle(&self) {
        self.chains
            .retain(|_, chain| chain.used.swap(false, Ordering::Relaxed) || Arc::strong_count(chain) > 1);
    }
}

impl Chain {
    /// Queues a publish; its answer comes on the returned receiver.
    pub fn push(
        &self,
        message: ChannelMessage,
        options: StoreOptions,
    ) -> oneshot::Receiver<Result<Stored, HistoryError>> {
        let (answer, answered) = oneshot::channel();
        self.queue.lock().push_back(Waiting {
            message,
            options,
            answer,
        });
        answered
    }

    /// The next record's publishes (see `take_record`).
    pub fn take(&self) -> Vec<Waiting> {
        take_record(&mut self.queue.lock())
    }
}

/// The publishes the next record holds, from the front of `queue`: one with an idempotency key goes
/// alone (JetStream deduplicates a record by one id); the others gather up to `SLOTS` messages and
/// `RECORD_BYTES`. A publish whose publisher gave up waiting (503) is still stored, as a request
/// that timed out may have been.
pub fn take_record(queue: &mut VecDeque<Waiting>) -> Vec<Waiting> {
    let mut record: Vec<Waiting> = Vec::new();
    let mut bytes = 0;
    while let Some(next) = queue.front() {
        let keyed = next.options.idempotency_key.is_some();
        let size = next.message.content_bytes();
        let full = record.len() as u64 >= SLOTS || bytes + size > RECORD_BYTES;
        if !record.is_empty() && (keyed || full) {
            break;
        }
        if let Some(next) = queue.pop_front() {
            record.push(next);
        }
        bytes += size;
        if keyed {
            break;
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageData, Origin};
    use crate::protocol::ChannelName;
    use std::sync::Arc;

    fn waiting(text: &str, key: Option<&str>) -> Waiting {
        let channel = ChannelName::parse("c").unwrap();
        let message = ChannelMessage::new(
            Arc::from("1"),
            channel,
            "e".into(),
            MessageData::Text(text.into()),
            Origin::Api,
        );
        let options = StoreOptions {
            idempotency_key: key.map(str::to_string),
            ..StoreOptions::default()
        };
        Waiting {
            message,
            options,
            answer: oneshot::channel().0,
        }
    }

    #[test]
    fn a_chain_is_let_go_after_a_round_unused_and_never_while_held() {
        let chains = Chains::default();
        let key = |c: &str| ChannelKey::of(&Arc::from("1"), &ChannelName::parse(c).unwrap());
        let held = chains.of(key("held"));
        chains.of(key("idle"));
        chains.let_go_idle();
        assert_eq!(chains.chains.len(), 2, "both were used since the last round");
        chains.let_go_idle();
        assert_eq!(chains.chains.len(), 1, "the idle one goes, the held one stays");
        assert!(
            Arc::ptr_eq(&held, &chains.of(key("held"))),
            "a held chain is the one handed out again"
        );
        drop(held);
        chains.let_go_idle();
        chains.let_go_idle();
        assert_eq!(chains.chains.len(), 0);
    }

    fn texts(record: &[Waiting]) -> Vec<&str> {
        record.iter().map(|w| w.message.data.as_text()).collect()
    }

    #[test]
    fn unkeyed_publishes_gather_and_a_keyed_one_goes_alone() {
        let mut queue: VecDeque<Waiting> = [
            waiting("a", None),
            waiting("b", None),
            waiting("k", Some("key")),
            waiting("c", None),
        ]
        .into();
        assert_eq!(texts(&take_record(&mut queue)), vec!["a", "b"]);
        assert_eq!(texts(&take_record(&mut queue)), vec!["k"]);
        assert_eq!(texts(&take_record(&mut queue)), vec!["c"]);
        assert!(take_record(&mut queue).is_empty());
    }

    #[test]
    fn a_record_stops_at_its_bytes_or_slots() {
        let big = "x".repeat(RECORD_BYTES / 2);
        let mut queue: VecDeque<Waiting> = [waiting(&big, None), waiting(&big, None), waiting("c", None)].into();
        assert_eq!(take_record(&mut queue).len(), 1);
        assert_eq!(take_record(&mut queue).len(), 2);
        let mut many: VecDeque<Waiting> = (0..SLOTS + 5).map(|_| waiting("m", None)).collect();
        assert_eq!(take_record(&mut many).len() as u64, SLOTS);
        assert_eq!(take_record(&mut many).len(), 5);
    }
}
