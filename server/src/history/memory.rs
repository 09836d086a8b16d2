//! In-memory history of the embedded mode: per channel, its serial counter, its retained messages and
//! the idempotency keys it has seen. Lost on restart, which starts a new epoch. Held within memory
//! budgets per app and for the node (`budget`): past one, the oldest messages go first.
//!
//! The local bus holds a channel's log locked while it stores and delivers a message, and while it
//! attaches a subscriber, so serials, deliveries and subscriptions of a channel happen in one order.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use parking_lot::Mutex;

use super::budget::{size_of, Accounts, HistoryBudget};
use super::{ChannelReader, HistoryError, Position, Retention};
use crate::channel_key::ChannelKey;
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
    bytes: usize,
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
            self.bytes += size_of(message);
            self.messages.push_back(Arc::new(message.clone()));
        }
        while self.messages.len() > retention.max_messages
            || self.messages.front().is_some_and(|m| !retention.keeps(m, now))
        {
            self.pop_oldest();
        }
        if let Some((key, window_ms)) = key {
            if self.seen.len() >= MAX_KEYS {
                self.forget_keys(now);
            }
            self.seen.insert(key.to_string(), (self.serial, now + window_ms));
        }
        Position {
            epoch,
            serial: self.serial,
        }
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
    fn pop_oldest(&mut self) {
        if let Some(gone) = self.messages.pop_front() {
            self.bytes -= size_of(&gone);
        }
    }

    /// When the oldest kept message was published.
    fn oldest_ms(&self) -> Option<i64> {
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

/// Every channel's log, the epoch they belong to, and what they hold against the budgets.
pub struct MemoryHistory {
    epoch: u64,
    channels: DashMap<ChannelKey, Arc<Mutex<ChannelLog>>>,
    budget: HistoryBudget,
    accounts: Accounts,
    /// Held while trimming to the budgets (one trim at a time; publishes do not wait for it).
    trimming: Mutex<()>,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        MemoryHistory::new(HistoryBudget::default())
    }
}

impl MemoryHistory {
    pub fn new(budget: HistoryBudget) -> Self {
        MemoryHistory {
            epoch: rand::random::<u32>() as u64 + 1,
            channels: DashMap::new(),
            budget,
            accounts: Accounts::default(),
            trimming: Mutex::new(()),
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Appends to `log` (the caller holds its lock), keeping the accounts.
    pub fn append(
        &self,
        app: &Arc<str>,
        log: &mut ChannelLog,
        message: &mut ChannelMessage,
        retention: Retention,
        key: Option<(&str, i64)>,
    ) -> Position {
        let before = log.bytes;
        let position = log.append(self.epoch, message, retention, key);
        self.accounts.changed(app, before, log.bytes);
        position
    }

    /// Bytes kept for `app` (and, with `None`, in all).
    pub fn kept_bytes(&self, app: Option<&str>) -> usize {
        match app {
            Some(app) => self.accounts.of(app),
            None => self.accounts.total(),
        }
    }

    /// Trims the oldest messages while a budget is passed. Call it holding no channel's lock; when
    /// another call is trimming already, returns at once.
    pub fn keep_to_budget(&self) {
        let Some(_trimming) = self.trimming.try_lock() else {
            return;
        };
        while let Some((app, target)) = self.accounts.next_trim(self.budget) {
            if !self.trim_app(&app, target) {
                break;
            }
        }
    }

    /// Drops `app`'s oldest messages, over all its channels, until it holds at most `target` bytes;
    /// false when nothing could be dropped.
    fn trim_app(&self, app: &Arc<str>, target: usize) -> bool {
        let logs: Vec<Arc<Mutex<ChannelLog>>> = self
            .channels
            .iter()
            .filter(|e| e.key().app == *app)
            .map(|e| e.value().clone())
            .collect();
        // Oldest first over the app's channels: a heap of each channel's oldest message.
        let mut oldest: BinaryHeap<Reverse<(i64, usize)>> = logs
            .iter()
            .enumerate()
            .filter_map(|(i, log)| log.lock().oldest_ms().map(|ms| Reverse((ms, i))))
            .collect();
        let mut dropped = false;
        while self.accounts.of(app) > target {
            let Some(Reverse((_, i))) = oldest.pop() else { break };
            let mut log = logs[i].lock();
            let before = log.bytes;
            log.pop_oldest();
            self.accounts.changed(app, before, log.bytes);
            dropped |= before != log.bytes;
            if let Some(ms) = log.oldest_ms() {
                oldest.push(Reverse((ms, i)));
            }
        }
        dropped
    }

    /// Runs `read` on a channel's log under its lock. A channel that has none (nothing was ever
    /// stored in it) is read as an empty log without creating one, so subscribing to or asking
    /// after endless channel names costs no memory; meanwhile its slot in the map stays locked,
    /// so a first publish to it waits until `read` is done (an attach keeps its place in the order).
    pub fn with_log<T>(&self, key: &ChannelKey, read: impl FnOnce(&ChannelLog) -> T) -> T {
        let found = self.channels.get(key).map(|log| log.value().clone());
        let log = match found {
            Some(log) => log,
            None => match self.channels.entry(key.clone()) {
                Entry::Occupied(found) => found.get().clone(),
                Entry::Vacant(_slot_locked) => return read(&ChannelLog::default()),
            },
        };
        let log = log.lock();
        read(&log)
    }

    /// Channels that have a log.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The log of a channel, created empty on first use (a publish).
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
    fn idempotency_keys_expire_with_their_window() {
        let mut log = ChannelLog::default();
        log.append(7, &mut message("x".into(), 1_000), KEEP, Some(("k", 500)));
        assert_eq!(log.seen("k", 1_200), Some(1));
        assert_eq!(log.seen("k", 1_600), None);
    }

    #[test]
    fn reading_a_channel_without_messages_keeps_no_log() {
        let history = MemoryHistory::new(HistoryBudget::default());
        let key = |name: &str| ChannelKey::of(&Arc::from("app"), &ChannelName::parse(name).unwrap());
        for i in 0..1000 {
            assert_eq!(history.with_log(&key(&format!("c{i}")), |log| log.serial()), 0);
        }
        assert_eq!(history.channel_count(), 0, "subscribing to names costs nothing");
        history.log(&key("c1"));
        assert_eq!(history.with_log(&key("c1"), |log| log.serial()), 0);
        assert_eq!(history.channel_count(), 1, "a publish made one");
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

    #[test]
    fn history_stays_within_its_budgets_dropping_the_oldest_and_the_largest_apps_first() {
        let budget = HistoryBudget {
            node_bytes: 40_000,
            app_bytes: 30_000,
        };
        let history = MemoryHistory::new(budget);
        let keep = Retention {
            max_messages: 1_000,
            max_age_ms: i64::MAX / 2,
        };
        let publish = |app: &str, channel: &str, n: i64, bytes: usize| {
            let app: Arc<str> = Arc::from(app);
            let key = ChannelKey::new(app.clone(), ChannelName::parse(channel).unwrap());
            let log = history.log(&key);
            let mut m = ChannelMessage::new(
                app.clone(),
                key.channel.clone(),
                "e".into(),
                MessageData::Text("x".repeat(bytes)),
                Origin::Api,
            );
            m.published_ms = n;
            history.append(&app, &mut log.lock(), &mut m, keep, None);
            history.keep_to_budget();
        };
        // A hostile app spreads 1 KB messages over 100 channels; a small app keeps a little.
        publish("small", "news", 0, 1_000);
        for n in 1..=300 {
            publish("big", &format!("c{}", n % 100), n, 1_000);
        }
        assert!(
            history.kept_bytes(Some("big")) <= budget.app_bytes,
            "{}",
            history.kept_bytes(Some("big"))
        );
        assert!(history.kept_bytes(None) <= budget.node_bytes);
        assert!(history.kept_bytes(Some("small")) > 0, "the small app kept its history");
        // Oldest first: the newest of the big app are still there, its first ones went.
        let newest = history.log(&ChannelKey::new(Arc::from("big"), ChannelName::parse("c0").unwrap()));
        assert!(
            newest.lock().oldest_ms().is_some_and(|ms| ms > 200),
            "only recent messages are kept"
        );
        let oldest = history.log(&ChannelKey::new(Arc::from("big"), ChannelName::parse("c1").unwrap()));
        let first = oldest.lock().at(1).now_or_never().unwrap().unwrap();
        assert!(first.is_none(), "the first message of c1 was trimmed");
    }
}
