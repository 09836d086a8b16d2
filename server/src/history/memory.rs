//! In-memory history of the embedded mode: per channel, its serial counter, its retained messages and
//! the idempotency keys it has seen. Lost on restart, which starts a new epoch.
//!
//! The local bus holds a channel's log locked while it stores and delivers a message, and while it
//! attaches a subscriber, so serials, deliveries and subscriptions of a channel happen in one order.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::Mutex;

use super::{ChannelReader, HistoryError, Position, Retention};
use crate::channel_key::ChannelKey;
use crate::message::ChannelMessage;

/// One channel's history.
#[derive(Default)]
pub struct ChannelLog {
    serial: u64,
    messages: VecDeque<Arc<ChannelMessage>>,
    /// Idempotency key → (serial it was stored as, expiry in Unix ms).
    seen: HashMap<String, (u64, i64)>,
}

impl ChannelLog {
    /// The serial of the channel's last message (0 when it never had one).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The serial an idempotency key was stored as, while its window lasts.
    pub fn seen(&self, key: &str, now_ms: i64) -> Option<u64> {
        self.seen.get(key).filter(|(_, exp)| *exp > now_ms).map(|(s, _)| *s)
    }

    /// Numbers and keeps `message` (dropping what `retention` no longer keeps); remembers `key`.
    pub fn append(
        &mut self,
        epoch: u64,
        message: &mut ChannelMessage,
        retention: Retention,
        key: Option<(&str, i64)>,
    ) -> Position {
        message.prev = self.serial;
        self.serial += 1;
        message.serial = self.serial;
        message.epoch = epoch;
        let now = message.published_ms;
        if retention.max_messages > 0 {
            self.messages.push_back(Arc::new(message.clone()));
        }
        while self.messages.len() > retention.max_messages
            || self.messages.front().is_some_and(|m| !retention.keeps(m, now))
        {
            self.messages.pop_front();
        }
        if let Some((key, window_ms)) = key {
            if self.seen.len() >= 1024 {
                self.seen.retain(|_, (_, exp)| *exp > now);
            }
            self.seen.insert(key.to_string(), (self.serial, now + window_ms));
        }
        Position {
            epoch,
            serial: self.serial,
        }
    }

    fn index_of(&self, serial: u64) -> Option<usize> {
        let first = self.messages.front()?.serial;
        serial.checked_sub(first).map(|i| i as usize)
    }
}

impl ChannelReader for ChannelLog {
    async fn next_after(&self, after: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        let Some(first) = self.messages.front() else {
            return Ok(None);
        };
        let index = self.index_of(after.max(first.serial - 1) + 1);
        Ok(index.and_then(|i| self.messages.get(i)).cloned())
    }

    async fn at(&self, serial: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        Ok(self.index_of(serial).and_then(|i| self.messages.get(i)).cloned())
    }
}

/// Every channel's log, and the epoch they belong to.
pub struct MemoryHistory {
    epoch: u64,
    channels: DashMap<ChannelKey, Arc<Mutex<ChannelLog>>>,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        MemoryHistory {
            epoch: rand::random::<u32>() as u64 + 1,
            channels: DashMap::new(),
        }
    }
}

impl MemoryHistory {
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The log of a channel, created empty on first use.
    pub fn log(&self, key: &ChannelKey) -> Arc<Mutex<ChannelLog>> {
        if let Some(log) = self.channels.get(key) {
            return log.clone();
        }
        self.channels.entry(key.clone()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{page, plan_start, NotRecovered, PageQuery, StartFrom};
    use crate::message::{MessageData, Origin};
    use crate::protocol::ChannelName;
    use futures_util::FutureExt;

    const KEEP: Retention = Retention {
        max_messages: 5,
        max_age_ms: 60_000,
    };

    fn log_with(n: u64) -> ChannelLog {
        let mut log = ChannelLog::default();
        for i in 1..=n {
            let mut m = ChannelMessage::new(
                Arc::from("app"),
                ChannelName::parse("c").unwrap(),
                "e".into(),
                MessageData::Text(i.to_string()),
                Origin::Api,
            );
            m.published_ms = 1_000 * i as i64;
            log.append(7, &mut m, KEEP, None);
        }
        log
    }

    fn start(log: &ChannelLog, from: StartFrom, now: i64) -> (Option<Result<(), NotRecovered>>, u64, Vec<u64>) {
        let s = plan_start(log, 7, log.serial(), Some(from), KEEP, now)
            .now_or_never()
            .unwrap();
        (
            s.recovered,
            s.position.serial,
            s.replay.iter().map(|m| m.serial).collect(),
        )
    }

    #[test]
    fn resume_replays_exactly_what_was_missed() {
        let log = log_with(8); // keeps 4..=8
        let at = |serial| StartFrom::Resume(Position { epoch: 7, serial });
        assert_eq!(start(&log, at(5), 9_000), (Some(Ok(())), 5, vec![6, 7, 8]));
        assert_eq!(start(&log, at(8), 9_000), (Some(Ok(())), 8, vec![]));
        assert_eq!(start(&log, at(3), 9_000), (Some(Ok(())), 3, vec![4, 5, 6, 7, 8]));
        assert_eq!(start(&log, at(2), 9_000).0, Some(Err(NotRecovered::Expired)));
        assert_eq!(start(&log, at(9), 9_000).0, Some(Err(NotRecovered::Ahead)));
        let other_epoch = StartFrom::Resume(Position { epoch: 8, serial: 5 });
        assert_eq!(start(&log, other_epoch, 9_000).0, Some(Err(NotRecovered::EpochChanged)));
        // Message 6 is older than the app keeps (60 s) at t = 66.5 s.
        assert_eq!(start(&log, at(5), 66_500).0, Some(Err(NotRecovered::Expired)));
    }

    #[test]
    fn rewind_by_count_and_by_time() {
        let log = log_with(8);
        assert_eq!(
            start(&log, StartFrom::RewindCount(2), 9_000),
            (Some(Ok(())), 6, vec![7, 8])
        );
        assert_eq!(start(&log, StartFrom::RewindCount(50), 9_000).2, vec![4, 5, 6, 7, 8]);
        assert_eq!(start(&log, StartFrom::RewindSeconds(3), 9_500).2, vec![7, 8]);
        assert_eq!(
            start(&ChannelLog::default(), StartFrom::RewindCount(3), 1).2,
            Vec::<u64>::new()
        );
    }

    #[test]
    fn pages_both_ways_with_cursors() {
        let log = log_with(8);
        let q = |backwards, cursor| PageQuery {
            backwards,
            cursor,
            start_ms: None,
            end_ms: None,
            limit: 2,
        };
        let serials =
            |p: crate::history::Page| (p.messages.iter().map(|m| m.serial).collect::<Vec<_>>(), p.next_cursor);
        let read = |query| serials(page(&log, 8, query, KEEP, 9_000).now_or_never().unwrap().unwrap());
        assert_eq!(read(q(false, None)), (vec![4, 5], Some(5)));
        assert_eq!(read(q(false, Some(5))), (vec![6, 7], Some(7)));
        assert_eq!(read(q(false, Some(7))), (vec![8], None));
        assert_eq!(read(q(true, None)), (vec![8, 7], Some(7)));
        assert_eq!(read(q(true, Some(5))), (vec![4], None));
        let window = PageQuery {
            start_ms: Some(5_000),
            end_ms: Some(6_000),
            limit: 10,
            ..q(false, None)
        };
        assert_eq!(read(window), (vec![5, 6], None));
    }

    #[test]
    fn idempotency_keys_expire_with_their_window() {
        let mut log = ChannelLog::default();
        let mut m = ChannelMessage::new(
            Arc::from("app"),
            ChannelName::parse("c").unwrap(),
            "e".into(),
            MessageData::Text("x".into()),
            Origin::Api,
        );
        m.published_ms = 1_000;
        log.append(7, &mut m, KEEP, Some(("k", 500)));
        assert_eq!(log.seen("k", 1_200), Some(1));
        assert_eq!(log.seen("k", 1_600), None);
    }
}
