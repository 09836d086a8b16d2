//! One channel's history in memory: its serial counter, its retained messages and the idempotency
//! keys it has seen. Numbering a message and keeping it are two steps, so the disk journal can write
//! the numbered message in between and a failed write leaves the channel as it was.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use super::budget::size_of;
use super::{ChannelReader, HistoryError, Position, Retention};
use crate::message::ChannelMessage;

/// Idempotency keys one channel remembers at most (within their window): past it, the oldest are
/// forgotten first, so a publisher cannot grow a channel's memory with endless new keys.
pub const MAX_KEYS: usize = 10_000;

/// One channel's history.
#[derive(Default)]
pub struct ChannelLog {
    serial: u64,
    messages: VecDeque<Arc<ChannelMessage>>,
    /// What `messages` are counted for (`budget::size_of`).
    pub(super) bytes: usize,
    /// Idempotency key → (serial it was stored as, expiry in Unix ms).
    seen: HashMap<String, (u64, i64)>,
    /// Taken out of the history (it held nothing): whoever finds it so takes the channel's new log.
    pub(super) retired: bool,
}

/// What a channel holds, as a snapshot of the journal records it.
pub struct ChannelState {
    pub serial: u64,
    /// Live idempotency keys: (key, serial, expiry).
    pub keys: Vec<(String, u64, i64)>,
    pub messages: Vec<Arc<ChannelMessage>>,
}

impl ChannelLog {
    /// An empty log whose first message will follow `serial` (the history's floor: no serial a
    /// retired log gave out is given again).
    pub fn starting_at(serial: u64) -> Self {
        ChannelLog {
            serial,
            ..ChannelLog::default()
        }
    }

    /// Holds nothing that must be kept: no message, no idempotency key still in its window.
    pub fn is_idle(&self, now_ms: i64) -> bool {
        self.messages.is_empty() && self.seen.values().all(|(_, expiry)| *expiry <= now_ms)
    }

    /// The serial of the channel's last message (0 when it never had one).
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The serial an idempotency key was stored as, while its window lasts.
    pub fn seen(&self, key: &str, now_ms: i64) -> Option<u64> {
        self.seen.get(key).filter(|(_, exp)| *exp > now_ms).map(|(s, _)| *s)
    }

    /// Numbers `message` as the channel's next one, without keeping it yet.
    pub fn number(&self, epoch: u64, message: &mut ChannelMessage) {
        message.prev = self.serial;
        message.serial = self.serial + 1;
        message.epoch = epoch;
    }

    /// Numbers and keeps `message` (dropping what `retention` no longer keeps); remembers `key`.
    pub fn append(
        &mut self,
        epoch: u64,
        message: &mut ChannelMessage,
        retention: Retention,
        key: Option<(&str, i64)>,
    ) -> Position {
        self.number(epoch, message);
        self.keep(message, retention, key)
    }

    /// Keeps a message `number` numbered (dropping what `retention` no longer keeps); remembers `key`.
    pub fn keep(&mut self, message: &ChannelMessage, retention: Retention, key: Option<(&str, i64)>) -> Position {
        self.serial = message.serial;
        let now = message.published_ms;
        if retention.max_messages > 0 {
            self.bytes += size_of(message);
            self.messages.push_back(Arc::new(message.clone()));
        }
        while self.messages.len() > retention.max_messages
            || self.messages.front().is_some_and(|m| !retention.keeps(m, now))
        {
            self.pop_oldest();
        }
        if let Some((key, window_ms)) = key {
            self.remember(key, self.serial, now + window_ms, now);
        }
        Position {
            epoch: message.epoch,
            serial: self.serial,
        }
    }

    /// Puts back a message read from the journal (skipped when the channel already has its serial),
    /// keeping at most `keep` messages.
    pub fn restore(&mut self, message: ChannelMessage, kept: bool, keep: usize, key: Option<(&str, i64)>) {
        if message.serial <= self.serial {
            return;
        }
        self.serial = message.serial;
        if let Some((key, expiry)) = key {
            self.remember(key, message.serial, expiry, message.published_ms);
        }
        if kept {
            self.bytes += size_of(&message);
            self.messages.push_back(Arc::new(message));
        }
        while self.messages.len() > keep {
            self.pop_oldest();
        }
    }

    /// Puts back a channel's serial and keys read from a snapshot.
    pub fn restore_state(&mut self, serial: u64, keys: Vec<(String, u64, i64)>) {
        self.serial = self.serial.max(serial);
        for (key, serial, expiry) in keys {
            self.seen.insert(key, (serial, expiry));
        }
    }

    /// What the journal's snapshot keeps of this channel at `now_ms`.
    pub fn state(&self, now_ms: i64) -> ChannelState {
        ChannelState {
            serial: self.serial,
            keys: (self.seen.iter())
                .filter(|(_, (_, exp))| *exp > now_ms)
                .map(|(k, (serial, exp))| (k.clone(), *serial, *exp))
                .collect(),
            messages: self.messages.iter().cloned().collect(),
        }
    }

    fn remember(&mut self, key: &str, serial: u64, expiry: i64, now: i64) {
        if self.seen.len() >= MAX_KEYS {
            self.forget_keys(now);
        }
        self.seen.insert(key.to_string(), (serial, expiry));
    }

    /// Forgets expired idempotency keys and, when most are still live, the oldest fifth, so a
    /// channel's keys stay bounded and the sweep runs once per thousands of keyed publishes.
    fn forget_keys(&mut self, now: i64) {
        self.seen.retain(|_, (_, exp)| *exp > now);
        if self.seen.len() >= MAX_KEYS * 9 / 10 {
            let mut serials: Vec<u64> = self.seen.values().map(|(serial, _)| *serial).collect();
            let cut = serials.len() - MAX_KEYS * 8 / 10;
            let (_, oldest_kept, _) = serials.select_nth_unstable(cut);
            let oldest_kept = *oldest_kept;
            self.seen.retain(|_, (serial, _)| *serial >= oldest_kept);
        }
    }

    /// Drops the oldest kept message.
    pub(super) fn pop_oldest(&mut self) {
        if let Some(gone) = self.messages.pop_front() {
            self.bytes -= size_of(&gone);
        }
    }

    /// When the oldest kept message was published.
    pub(super) fn oldest_ms(&self) -> Option<i64> {
        self.messages.front().map(|m| m.published_ms)
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

    /// A message of app `app`, channel `c`, published at `published_ms`.
    fn message(text: String, published_ms: i64) -> ChannelMessage {
        let mut m = ChannelMessage::new(
            Arc::from("app"),
            ChannelName::parse("c").unwrap(),
            "e".into(),
            MessageData::Text(text),
            Origin::Api,
        );
        m.published_ms = published_ms;
        m
    }

    fn log_with(n: u64) -> ChannelLog {
        let mut log = ChannelLog::default();
        for i in 1..=n {
            log.append(7, &mut message(i.to_string(), 1_000 * i as i64), KEEP, None);
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
    fn pages_show_no_more_than_the_app_keeps_while_the_store_holds_more() {
        let log = log_with(8); // holds 4..=8
        let three = Retention {
            max_messages: 3,
            ..KEEP
        };
        let read = |backwards, cursor, limit| {
            let query = PageQuery {
                backwards,
                cursor,
                start_ms: None,
                end_ms: None,
                limit,
            };
            let p = page(&log, 8, query, three, 9_000).now_or_never().unwrap().unwrap();
            (p.messages.iter().map(|m| m.serial).collect::<Vec<_>>(), p.next_cursor)
        };
        assert_eq!(read(true, None, 10), (vec![8, 7, 6], None));
        assert_eq!(read(false, None, 10), (vec![6, 7, 8], None));
        assert_eq!(read(false, None, 2), (vec![6, 7], Some(7)));
        assert_eq!(read(false, Some(7), 2), (vec![8], None));
        assert_eq!(read(true, Some(7), 10), (vec![6], None));
    }

    #[test]
    fn idempotency_keys_expire_with_their_window() {
        let mut log = ChannelLog::default();
        log.append(7, &mut message("x".into(), 1_000), KEEP, Some(("k", 500)));
        assert_eq!(log.seen("k", 1_200), Some(1));
        assert_eq!(log.seen("k", 1_600), None);
    }

    #[test]
    fn a_channel_remembers_at_most_max_keys_and_forgets_the_oldest_first() {
        let mut log = ChannelLog::default();
        for i in 0..MAX_KEYS * 3 {
            let key = format!("k{i}");
            log.append(7, &mut message("x".into(), 1_000), KEEP, Some((&key, 3_600_000)));
            assert!(log.seen.len() <= MAX_KEYS);
        }
        let last = format!("k{}", MAX_KEYS * 3 - 1);
        assert_eq!(
            log.seen(&last, 2_000),
            Some((MAX_KEYS * 3) as u64),
            "the newest key is kept"
        );
        assert_eq!(log.seen("k0", 2_000), None, "the oldest was forgotten");
    }
}
