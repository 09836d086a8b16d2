//! The embedded history on disk: an append-only journal of every stored message, written before the
//! publish is acknowledged, and read back at start so a restarted node keeps its epoch, serials,
//! idempotency keys and retained messages (a returning client resumes with `recovered: true`).
//!
//! Files in the journal's directory: `segment-N.log`, appended to while N is the newest, and
//! `snapshot-N.log`, everything retained when segments up to N were compacted. Each file is a run of
//! records, each `[length u32][crc32 u32][JSON]`; a record that does not check (a write torn by a
//! power cut) ends what is read of that file. Reading applies the newest snapshot, then the segments
//! after it; a message whose serial its channel already has is skipped, so a snapshot that also holds
//! messages of the segment written meanwhile reads the same.
//!
//! This module owns the files and their format; what is kept, and when to compact, is the history's.
//! A record reaches the operating system (`write`) before `append` returns, so it survives the
//! process being killed; when it reaches the disk is the `Fsync` policy's.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::message::ChannelMessage;

/// When written records are forced to the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fsync {
    /// Before each publish is acknowledged: nothing acknowledged is lost, even to a power cut.
    Always,
    /// Once a second: a killed process loses nothing; a power cut, at most the last second.
    EverySecond,
    /// When the operating system decides: a killed process loses nothing.
    Never,
}

/// No record is longer (a message is at most a few MB): a longer length is damage, not a record.
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// One entry of the journal.
#[derive(Debug, Serialize, Deserialize)]
pub enum Record<'a> {
    /// The epoch the history belongs to: first in every file.
    Epoch(u64),
    /// Channels made from now on number their messages after this serial (raised when an idle
    /// channel's log is retired, so its serials are not given out again).
    Floor(u64),
    /// A stored message, with the idempotency key it was stored under and, when its channel keeps
    /// no messages, `kept: false` (only its serial counts).
    Stored {
        message: Cow<'a, ChannelMessage>,
        key: Option<(Cow<'a, str>, i64)>,
        kept: bool,
        /// How many messages the channel kept when it was stored.
        keep: usize,
    },
    /// A channel's serial and live idempotency keys (key, serial, expiry): in snapshots, after the
    /// channel's messages.
    Channel {
        app: Cow<'a, str>,
        channel: Cow<'a, str>,
        serial: u64,
        keys: Vec<(String, u64, i64)>,
    },
}

/// The journal's files and the segment being appended to.
pub struct Journal {
    dir: PathBuf,
    fsync: Fsync,
    active: Mutex<Segment>,
    /// Bytes written since the last snapshot was taken.
    since_snapshot: AtomicU64,
    /// Written since the last `sync`.
    dirty: AtomicBool,
}

struct Segment {
    number: u64,
    file: File,
}

impl Journal {
    /// Opens the journal in `dir` (made when missing), hands every record kept there to `restore`
    /// in order, and starts a new segment. `new_epoch` is asked for when the journal is empty.
    pub fn open(
        dir: &Path,
        fsync: Fsync,
        new_epoch: impl FnOnce() -> u64,
        mut restore: impl FnMut(Record<'static>),
    ) -> io::Result<(Journal, u64)> {
        create_private_dir(dir)?;
        let files = Files::list(dir)?;
        let mut epoch = None;
        let mut bytes = 0;
        for path in files.to_read() {
            bytes += read_file(&path, &mut |record| match record {
                Record::Epoch(e) => {
                    epoch.get_or_insert(e);
                }
                other => restore(other),
            })?;
        }
        let epoch = epoch.unwrap_or_else(new_epoch);
        let number = files.newest() + 1;
        let file = new_file(&segment_path(dir, number), epoch)?;
        files.remove_compacted(dir);
        let journal = Journal {
            dir: dir.to_path_buf(),
            fsync,
            active: Mutex::new(Segment { number, file }),
            since_snapshot: AtomicU64::new(bytes),
            dirty: AtomicBool::new(false),
        };
        Ok((journal, epoch))
    }

    /// Writes `record` to the active segment (and to the disk, with `Fsync::Always`).
    pub fn append(&self, record: &Record<'_>) -> io::Result<()> {
        let frame = encode(record)?;
        let mut active = self.active.lock();
        active.file.write_all(&frame)?;
        if self.fsync == Fsync::Always {
            active.file.sync_data()?;
        } else {
            self.dirty.store(true, Ordering::Relaxed);
        }
        drop(active);
        self.since_snapshot.fetch_add(frame.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    pub fn fsync(&self) -> Fsync {
        self.fsync
    }

    /// Bytes written since the last snapshot.
    pub fn since_snapshot(&self) -> u64 {
        self.since_snapshot.load(Ordering::Relaxed)
    }

    /// Forces what was written to the disk (the `EverySecond` task and shutdown call it). The sync
    /// goes through a second handle of the segment, outside the lock: a sync can take milliseconds,
    /// and a publish appending meanwhile must not wait for it (it would stall its worker thread).
    pub fn sync(&self) -> io::Result<()> {
        if self.dirty.swap(false, Ordering::Relaxed) {
            let file = self.active.lock().file.try_clone()?;
            file.sync_data()?;
        }
        Ok(())
    }

    /// Starts a new segment; returns the number of the last one written before it, which the next
    /// snapshot will cover.
    pub fn roll(&self, epoch: u64) -> io::Result<u64> {
        let mut active = self.active.lock();
        let number = active.number + 1;
        let file = new_file(&segment_path(&self.dir, number), epoch)?;
        let previous = std::mem::replace(&mut *active, Segment { number, file });
        drop(active);
        previous.file.sync_data()?;
        self.since_snapshot.store(0, Ordering::Relaxed);
        Ok(previous.number)
    }

    /// Writes a snapshot covering segments up to `upto` from `records` (what the history holds
    /// now), then removes what it replaces. Written to a temporary file, forced to the disk and
    /// renamed, so a snapshot is either whole or absent.
    pub fn write_snapshot<'r>(
        &self,
        upto: u64,
        epoch: u64,
        records: impl Iterator<Item = Record<'r>>,
    ) -> io::Result<()> {
        let path = snapshot_path(&self.dir, upto);
        let temporary = path.with_extension("tmp");
        let mut out = io::BufWriter::new(new_file(&temporary, epoch)?);
        for record in records {
            out.write_all(&encode(&record)?)?;
        }
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&temporary, &path)?;
        File::open(&self.dir)?.sync_all()?;
        Files::list(&self.dir)?.remove_compacted(&self.dir);
        Ok(())
    }
}

/// The journal files found in a directory.
struct Files {
    /// Segment numbers, ascending.
    segments: Vec<u64>,
    /// The newest whole snapshot's number, if any.
    snapshot: Option<u64>,
    dir: PathBuf,
}

impl Files {
    fn list(dir: &Path) -> io::Result<Files> {
        let (mut segments, mut snapshot) = (Vec::new(), None::<u64>);
        for entry in fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if let Some(n) = numbered(&name, "segment-") {
                segments.push(n);
            } else if let Some(n) = numbered(&name, "snapshot-") {
                snapshot = snapshot.max(Some(n));
            }
        }
        segments.sort_unstable();
        Ok(Files {
            segments,
            snapshot,
            dir: dir.to_path_buf(),
        })
    }

    /// The newest snapshot, then the segments after it, in order.
    fn to_read(&self) -> Vec<PathBuf> {
        let covered = self.snapshot.unwrap_or(0);
        let snapshot = self.snapshot.map(|n| snapshot_path(&self.dir, n));
        let segments = self.segments.iter().filter(|n| **n > covered);
        snapshot
            .into_iter()
            .chain(segments.map(|n| segment_path(&self.dir, *n)))
            .collect()
    }

    fn newest(&self) -> u64 {
        self.segments
            .last()
            .copied()
            .unwrap_or(0)
            .max(self.snapshot.unwrap_or(0))
    }

    /// Removes segments the newest snapshot covers, older snapshots and unfinished ones.
    fn remove_compacted(&self, dir: &Path) {
        let Some(covered) = self.snapshot else { return };
        let Ok(entries) = fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let gone = numbered(&name, "segment-").is_some_and(|n| n <= covered)
                || numbered(&name, "snapshot-").is_some_and(|n| n < covered)
                || name.ends_with(".tmp");
            if gone {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

fn numbered(name: &str, prefix: &str) -> Option<u64> {
    name.strip_prefix(prefix)?.strip_suffix(".log")?.parse().ok()
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("segment-{n:010}.log"))
}

fn snapshot_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("snapshot-{n:010}.log"))
}

/// A new journal file (0600) starting with the epoch record.
fn new_file(path: &Path, epoch: u64) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(&encode(&Record::Epoch(epoch))?)?;
    Ok(file)
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// The bytes before a record's JSON: its length and its CRC-32, 4 bytes each, little-endian.
const HEAD: usize = 8;

/// One record framed: length, CRC-32 of the JSON, the JSON. The JSON is written in place, after
/// room for the head, which is filled in once its length is known (no second buffer).
pub fn encode(record: &Record<'_>) -> io::Result<Vec<u8>> {
    let mut frame = Vec::with_capacity(256);
    frame.extend_from_slice(&[0; HEAD]);
    serde_json::to_writer(&mut frame, record).map_err(io::Error::other)?;
    let json = &frame[HEAD..];
    let length = u32::try_from(json.len()).map_err(io::Error::other)?;
    let crc = crc32fast::hash(json);
    frame[..4].copy_from_slice(&length.to_le_bytes());
    frame[4..HEAD].copy_from_slice(&crc.to_le_bytes());
    Ok(frame)
}

/// Reads the records of one file into `each`, up to the first that does not check; returns the
/// bytes read.
fn read_file(path: &Path, each: &mut dyn FnMut(Record<'static>)) -> io::Result<u64> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut read = 0u64;
    loop {
        match next_record(&mut reader) {
            Ok(Some((record, bytes))) => {
                read += bytes;
                each(record);
            }
            Ok(None) => return Ok(read),
            Err(why) => {
                tracing::warn!(file = %path.display(), at = read, %why, "history journal: the rest of this file is unreadable and skipped");
                return Ok(read);
            }
        }
    }
}

/// The next record, `None` at a clean end, an error for a torn or damaged one.
fn next_record(reader: &mut impl Read) -> io::Result<Option<(Record<'static>, u64)>> {
    let mut head = [0u8; HEAD];
    match reader.read_exact(&mut head[..1]) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    reader.read_exact(&mut head[1..])?;
    let length = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
    if length > MAX_RECORD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "record longer than any written",
        ));
    }
    let crc = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
    let mut json = vec![0u8; length];
    reader.read_exact(&mut json)?;
    if crc32fast::hash(&json) != crc {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "checksum does not match"));
    }
    let record = serde_json::from_slice(&json).map_err(io::Error::other)?;
    Ok(Some((record, (HEAD + length) as u64)))
}
