//! The history of the embedded mode: every channel's `ChannelLog` in memory, the epoch they belong
//! to, and what they hold against the memory budgets per app and for the node (`budget`). A channel
//! counts for its messages and for its log (`LOG_BYTES`), so endless channel names cost an app its
//! budget too. Past a budget, the app's logs that hold nothing are retired first, then its oldest
//! messages go. A retired log's serials are not given out again: channels made later number after
//! the history's floor. Every stored message is first handed to a `Persist`: nowhere (the history is
//! lost on restart, which starts a new epoch) or the disk journal it is restored from.
//!
//! The local bus holds a channel's log locked while it stores and delivers a message, and while it
//! attaches a subscriber, so serials, deliveries and subscriptions of a channel happen in one order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use parking_lot::Mutex;

use super::budget::{Accounts, HistoryBudget};
use super::channel_log::{ChannelLog, ChannelState};
use super::journal::Record;
use super::{HistoryError, Position, Retention};
use crate::channel_key::ChannelKey;
use crate::message::ChannelMessage;
use crate::protocol::ChannelName;

/// What a channel's log is counted for beyond its messages (the map entry, the log, its lock).
pub const LOG_BYTES: usize = 256;

/// Where a stored message is written before the history keeps it (and its publish is acknowledged).
pub trait Persist: Send + Sync {
    fn stored(&self, message: &ChannelMessage, key: Option<(&str, i64)>, retention: Retention) -> io::Result<()>;
    /// The floor was raised to `serial`.
    fn floor(&self, serial: u64) -> io::Result<()>;
}

/// Nowhere: the history lives in memory only.
pub struct MemoryOnly;

impl Persist for MemoryOnly {
    fn stored(&self, _: &ChannelMessage, _: Option<(&str, i64)>, _: Retention) -> io::Result<()> {
        Ok(())
    }

    fn floor(&self, _: u64) -> io::Result<()> {
        Ok(())
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
    /// The highest serial a retired log gave out.
    floor: AtomicU64,
    persist: Arc<dyn Persist>,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        MemoryHistory::new(HistoryBudget::default())
    }
}

impl MemoryHistory {
    /// An empty history in memory only, in a new epoch.
    pub fn new(budget: HistoryBudget) -> Self {
        MemoryHistory {
            epoch: rand::random::<u32>() as u64 + 1,
            channels: DashMap::new(),
            budget,
            accounts: Accounts::default(),
            trimming: Mutex::new(()),
            floor: AtomicU64::new(0),
            persist: Arc::new(MemoryOnly),
        }
    }

    /// This history (restored from a journal) in `epoch`, writing what it stores to `persist`.
    pub fn persisted(self, epoch: u64, persist: Arc<dyn Persist>) -> Self {
        MemoryHistory { epoch, persist, ..self }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Numbers `message` in `log` (the caller holds its lock), writes it where it persists, then
    /// keeps it, keeping the accounts. A failed write leaves the channel as it was.
    pub fn append(
        &self,
        app: &Arc<str>,
        log: &mut ChannelLog,
        message: &mut ChannelMessage,
        retention: Retention,
        key: Option<(&str, i64)>,
    ) -> Result<Position, HistoryError> {
        log.number(self.epoch, message);
        (self.persist.stored(message, key, retention))
            .map_err(|e| HistoryError::failed("writing the history journal", e))?;
        let before = log.bytes;
        let position = log.keep(message, retention, key);
        self.accounts.changed(app, before, log.bytes);
        Ok(position)
    }

    /// Puts back what a journal record says (read at start, before the history is shared).
    pub fn restore(&self, record: Record<'static>) {
        match record {
            Record::Stored {
                message,
                key,
                kept,
                keep,
            } => {
                let message = message.into_owned();
                let app = message.app_id.clone();
                let log = self.log_from(&ChannelKey::of(&app, &message.channel), 0);
                let mut log = log.lock();
                let before = log.bytes;
                log.restore(
                    message,
                    kept,
                    keep,
                    key.as_ref().map(|(k, expiry)| (k.as_ref(), *expiry)),
                );
                self.accounts.changed(&app, before, log.bytes);
            }
            Record::Channel {
                app,
                channel,
                serial,
                keys,
            } => {
                let Ok(channel) = ChannelName::parse(&channel) else {
                    return;
                };
                let key = ChannelKey::new(Arc::from(app.as_ref()), channel);
                self.log_from(&key, 0).lock().restore_state(serial, keys);
            }
            Record::Floor(serial) => {
                self.floor.fetch_max(serial, Ordering::Relaxed);
            }
            Record::Epoch(_) => {}
        }
    }

    /// The highest serial a retired log gave out.
    pub fn floor(&self) -> u64 {
        self.floor.load(Ordering::Relaxed)
    }

    /// Every channel's state at `now_ms`, one channel locked at a time (for a journal snapshot).
    pub fn states(&self, now_ms: i64) -> Vec<(ChannelKey, ChannelState)> {
        let logs: Vec<(ChannelKey, Arc<Mutex<ChannelLog>>)> = self
            .channels
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        logs.into_iter()
            .map(|(key, log)| {
                let state = log.lock().state(now_ms);
                (key, state)
            })
            .collect()
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

    /// Retires `app`'s logs that hold nothing, then drops its oldest messages, over all its
    /// channels, until it holds at most `target` bytes; false when nothing could be dropped.
    fn trim_app(&self, app: &Arc<str>, target: usize) -> bool {
        let logs: Vec<(ChannelKey, Arc<Mutex<ChannelLog>>)> = (self.channels.iter())
            .filter(|e| e.key().app == *app)
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        let now = crate::clock::unix_ms();
        let mut dropped = false;
        for (key, _) in &logs {
            dropped |= self.retire_if_idle(key, now);
        }
        // Oldest first over the app's channels: a heap of each channel's oldest message.
        let mut oldest: BinaryHeap<Reverse<(i64, usize)>> = (logs.iter().enumerate())
            .filter_map(|(i, (_, log))| log.lock().oldest_ms().map(|ms| Reverse((ms, i))))
            .collect();
        while self.accounts.of(app) > target {
            let Some(Reverse((_, i))) = oldest.pop() else { break };
            let mut log = logs[i].1.lock();
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

    /// Takes a channel's log out of the history when it holds nothing (and no publish holds it),
    /// raising the floor to its serial first; true when it did.
    fn retire_if_idle(&self, key: &ChannelKey, now_ms: i64) -> bool {
        let retired = self.channels.remove_if(key, |_, log| {
            let Some(mut log) = log.try_lock() else { return false };
            if !log.is_idle(now_ms) || self.raise_floor(log.serial()).is_err() {
                return false;
            }
            log.retired = true;
            true
        });
        if retired.is_some() {
            self.accounts.changed(&key.app, LOG_BYTES, 0);
        }
        retired.is_some()
    }

    /// Raises the floor to `serial` (written where the history persists first).
    fn raise_floor(&self, serial: u64) -> io::Result<()> {
        if serial <= self.floor() {
            return Ok(());
        }
        if let Err(why) = self.persist.floor(serial) {
            tracing::warn!(%why, "history journal: a channel's log is kept, its floor could not be written");
            return Err(why);
        }
        self.floor.fetch_max(serial, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `read` on a channel's log under its lock. A channel that has none (nothing was ever
    /// stored in it) is read as an empty log without creating one, so subscribing to or asking
    /// after endless channel names costs no memory; meanwhile its slot in the map stays locked,
    /// so a first publish to it waits until `read` is done (an attach keeps its place in the order).
    pub fn with_log<T>(&self, key: &ChannelKey, read: impl FnOnce(&ChannelLog) -> T) -> T {
        loop {
            let found = self.channels.get(key).map(|log| log.value().clone());
            let log = match found {
                Some(log) => log,
                None => match self.channels.entry(key.clone()) {
                    Entry::Occupied(found) => found.get().clone(),
                    Entry::Vacant(_slot_locked) => return read(&ChannelLog::starting_at(self.floor())),
                },
            };
            let log = log.lock();
            if !log.retired {
                return read(&log);
            }
        }
    }

    /// Runs `write` on a channel's log under its lock, the log made on first use (a publish).
    pub fn with_log_mut<T>(&self, key: &ChannelKey, write: impl FnOnce(&mut ChannelLog) -> T) -> T {
        loop {
            let log = self.log(key);
            let mut log = log.lock();
            if !log.retired {
                return write(&mut log);
            }
        }
    }

    /// Channels that have a log.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }

    /// The log of a channel, created empty on first use (a publish), numbering after the floor.
    /// Lock it through `with_log_mut`, which takes the channel's new log if this one was retired.
    pub fn log(&self, key: &ChannelKey) -> Arc<Mutex<ChannelLog>> {
        self.log_from(key, self.floor())
    }

    fn log_from(&self, key: &ChannelKey, start: u64) -> Arc<Mutex<ChannelLog>> {
        if let Some(log) = self.channels.get(key) {
            return log.clone();
        }
        let made = self.channels.entry(key.clone()).or_insert_with(|| {
            self.accounts.changed(&key.app, 0, LOG_BYTES);
            Arc::new(Mutex::new(ChannelLog::starting_at(start)))
        });
        made.clone()
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
