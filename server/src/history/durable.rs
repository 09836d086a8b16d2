//! Opening the embedded history as configured — in memory only, or restored from its journal on disk
//! and written to it — and the task that keeps the journal: forcing it to the disk once a second
//! (`Fsync::EverySecond`), compacting it into a snapshot when it has grown well past what the
//! history holds, and a last sync on shutdown.
//!
//! What a record holds is `journal`'s; what is kept, `MemoryHistory`'s.

use std::borrow::Cow;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::journal::{Fsync, Journal, Record};
use super::memory::{MemoryHistory, Persist};
use super::{HistoryBudget, Retention};
use crate::clock::unix_ms;
use crate::message::ChannelMessage;
use crate::shutdown::Shutdown;

/// Where the embedded history lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HistoryStorage {
    /// In memory: lost on restart (every resume after it is refused, `epoch_changed`).
    Memory,
    /// In memory and in a journal in `dir`: a restarted node resumes its clients.
    Disk { dir: PathBuf, fsync: Fsync },
}

/// A journal is compacted once this much was written since its last snapshot, and more than twice
/// what the history holds.
const COMPACT_AFTER_BYTES: u64 = 64 * 1024 * 1024;

/// The embedded history as `storage` says, within `budget`; a journal is read back first.
pub fn open_history(
    storage: &HistoryStorage,
    budget: HistoryBudget,
    shutdown: &Shutdown,
) -> io::Result<Arc<MemoryHistory>> {
    let HistoryStorage::Disk { dir, fsync } = storage else {
        return Ok(Arc::new(MemoryHistory::new(budget)));
    };
    let started = std::time::Instant::now();
    let (history, journal) = restore(dir, *fsync, budget)?;
    tracing::info!(
        dir = %dir.display(),
        epoch = history.epoch(),
        channels = history.channel_count(),
        kept_bytes = history.kept_bytes(None),
        ms = started.elapsed().as_millis() as u64,
        "history restored from its journal"
    );
    tokio::spawn(keep_journal(history.clone(), journal, shutdown.clone()));
    Ok(history)
}

/// Reads the journal in `dir` into a new history that writes to it.
pub fn restore(
    dir: &std::path::Path,
    fsync: Fsync,
    budget: HistoryBudget,
) -> io::Result<(Arc<MemoryHistory>, Arc<Journal>)> {
    let empty = MemoryHistory::new(budget);
    let fresh_epoch = empty.epoch();
    let (journal, epoch) = Journal::open(dir, fsync, || fresh_epoch, |record| empty.restore(record))?;
    let journal = Arc::new(journal);
    let history = Arc::new(empty.persisted(epoch, journal.clone()));
    history.keep_to_budget();
    Ok((history, journal))
}

impl Persist for Journal {
    fn stored(&self, message: &ChannelMessage, key: Option<(&str, i64)>, retention: Retention) -> io::Result<()> {
        self.append(&Record::Stored {
            message: Cow::Borrowed(message),
            key: key.map(|(key, window_ms)| (Cow::Borrowed(key), message.published_ms + window_ms)),
            kept: retention.max_messages > 0,
            keep: retention.max_messages,
        })
    }

    fn floor(&self, serial: u64) -> io::Result<()> {
        self.append(&Record::Floor(serial))
    }
}

/// Once a second: sync when the policy says so, compact when due. On shutdown: a last sync.
async fn keep_journal(history: Arc<MemoryHistory>, journal: Arc<Journal>, shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.stopping() => break,
        }
        let (history, journal) = (history.clone(), journal.clone());
        let kept = tokio::task::spawn_blocking(move || {
            if journal.fsync() == Fsync::EverySecond {
                journal.sync()?;
            }
            let held = history.kept_bytes(None) as u64;
            if journal.since_snapshot() > COMPACT_AFTER_BYTES.max(held * 2) {
                compact(&history, &journal)?;
            }
            io::Result::Ok(())
        })
        .await;
        match kept {
            Ok(Ok(())) => {}
            Ok(Err(why)) => tracing::error!(%why, "history journal: sync or compaction failed"),
            Err(why) => tracing::error!(%why, "history journal task failed"),
        }
    }
    if let Err(why) = journal.sync() {
        tracing::error!(%why, "history journal: last sync failed");
    }
}

/// Replaces the journal's segments so far with a snapshot of what the history holds now. Publishes
/// go on meanwhile, into a new segment.
pub fn compact(history: &MemoryHistory, journal: &Journal) -> io::Result<()> {
    let started = std::time::Instant::now();
    let epoch = history.epoch();
    let upto = journal.roll(epoch)?;
    let states = history.states(unix_ms());
    let records = states.iter().flat_map(|(key, state)| {
        let channel = Record::Channel {
            app: Cow::Borrowed(&*key.app),
            channel: Cow::Borrowed(key.channel.as_str()),
            serial: state.serial,
            keys: state.keys.clone(),
        };
        let messages = state.messages.iter().map(|m| Record::Stored {
            message: Cow::Borrowed(&**m),
            key: None,
            kept: true,
            keep: state.messages.len(),
        });
        // The messages first: a message whose serial its channel already has is skipped.
        messages.chain(std::iter::once(channel))
    });
    let floor = std::iter::once(Record::Floor(history.floor()));
    journal.write_snapshot(upto, epoch, floor.chain(records))?;
    tracing::info!(
        channels = states.len(),
        ms = started.elapsed().as_millis() as u64,
        "history journal compacted"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel_key::ChannelKey;
    use crate::history::{ChannelReader, Position};
    use crate::message::{MessageData, Origin};
    use crate::protocol::ChannelName;
    use futures_util::FutureExt;
    use std::io::Write;
    use std::path::Path;

    const KEEP: Retention = Retention {
        max_messages: 3,
        max_age_ms: i64::MAX / 4,
    };

    struct Dir(PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    fn dir() -> Dir {
        Dir(std::env::temp_dir().join(format!("herald-journal-{:x}", rand::random::<u64>())))
    }

    fn open(dir: &Path) -> (Arc<MemoryHistory>, Arc<Journal>) {
        restore(dir, Fsync::Never, HistoryBudget::default()).unwrap()
    }

    fn key(channel: &str) -> ChannelKey {
        ChannelKey::new(Arc::from("app"), ChannelName::parse(channel).unwrap())
    }

    /// Publishes `text` to `channel` as the local bus does; the position it got.
    fn publish(history: &MemoryHistory, channel: &str, text: &str, idempotency: Option<&str>) -> Position {
        let key = key(channel);
        let mut m = ChannelMessage::new(
            key.app.clone(),
            key.channel.clone(),
            "e".into(),
            MessageData::Text(text.into()),
            Origin::Api,
        );
        let log = history.log(&key);
        let mut log = log.lock();
        let position = history.append(&key.app, &mut log, &mut m, KEEP, idempotency.map(|k| (k, 60_000)));
        position.unwrap()
    }

    fn texts(history: &MemoryHistory, channel: &str) -> Vec<(u64, String)> {
        history.with_log(&key(channel), |log| {
            (1..=log.serial())
                .filter_map(|s| log.at(s).now_or_never().unwrap().unwrap())
                .map(|m| (m.serial, m.data.as_text().to_string()))
                .collect()
        })
    }

    #[test]
    fn a_reopened_journal_has_the_epoch_serials_messages_and_keys() {
        let d = dir();
        let (history, _journal) = open(&d.0);
        let epoch = history.epoch();
        for i in 1..=5 {
            publish(&history, "a", &format!("a{i}"), Some(&format!("k{i}")));
        }
        publish(&history, "b", "b1", None);
        drop(history);

        let (again, _journal) = open(&d.0);
        assert_eq!(again.epoch(), epoch, "the epoch is kept");
        assert_eq!(
            texts(&again, "a"),
            vec![(3, "a3".into()), (4, "a4".into()), (5, "a5".into())]
        );
        assert_eq!(texts(&again, "b"), vec![(1, "b1".into())]);
        let seen = again.with_log(&key("a"), |log| log.seen("k2", crate::clock::unix_ms()));
        assert_eq!(seen, Some(2), "idempotency keys are kept");
        let next = publish(&again, "a", "a6", None);
        assert_eq!(next, Position { epoch, serial: 6 }, "numbering goes on");
    }

    #[test]
    fn compaction_keeps_what_is_held_and_removes_the_segments_it_covers() {
        let d = dir();
        let (history, journal) = open(&d.0);
        for i in 1..=50 {
            publish(&history, &format!("c{}", i % 5), &format!("m{i}"), None);
        }
        compact(&history, &journal).unwrap();
        publish(&history, "c0", "after", None);
        let files = |d: &Path| {
            let mut names: Vec<String> = (std::fs::read_dir(d).unwrap())
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(files(&d.0), vec!["segment-0000000002.log", "snapshot-0000000001.log"]);
        let before = texts(&history, "c0");
        drop((history, journal));

        let (again, _journal) = open(&d.0);
        assert_eq!(texts(&again, "c0"), before);
        assert_eq!(texts(&again, "c0").last().unwrap(), &(11, "after".into()));
        assert_eq!(texts(&again, "c3").len(), 3);
    }

    #[test]
    fn a_torn_record_ends_what_is_read_of_its_file() {
        let d = dir();
        let (history, journal) = open(&d.0);
        publish(&history, "a", "whole", None);
        drop((history, journal));
        let segment = d.0.join("segment-0000000001.log");
        let mut file = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
        file.write_all(&[40, 0, 0, 0, 1, 2, 3, 4, b'{']).unwrap();
        drop(file);

        let (again, _journal) = open(&d.0);
        assert_eq!(texts(&again, "a"), vec![(1, "whole".into())]);
        assert_eq!(publish(&again, "a", "next", None).serial, 2);
    }

    #[test]
    fn the_floor_of_retired_logs_is_kept_through_a_restart() {
        let d = dir();
        let small = HistoryBudget {
            node_bytes: 1_000_000,
            app_bytes: 4 * crate::history::LOG_BYTES + 2_000,
        };
        let (history, journal) = restore(&d.0, Fsync::Never, small).unwrap();
        for i in 0..30 {
            publish(&history, &format!("c{i}"), "x", None);
            history.keep_to_budget();
        }
        let floor = history.floor();
        assert!(floor >= 3, "channels were retired: floor {floor}");
        compact(&history, &journal).unwrap();
        drop((history, journal));

        let (again, _journal) = restore(&d.0, Fsync::Never, small).unwrap();
        assert_eq!(again.floor(), floor);
        let fresh = publish(&again, "never-seen", "y", None);
        assert_eq!(fresh.serial, floor + 1, "a new channel numbers after the floor");
    }

    #[test]
    fn the_journal_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir();
        let (history, _journal) = open(&d.0);
        publish(&history, "a", "secret", None);
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&d.0), 0o700);
        assert_eq!(mode(&d.0.join("segment-0000000001.log")), 0o600);
    }
}
