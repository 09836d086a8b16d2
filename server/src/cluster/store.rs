//! One message shard's store: a JetStream stream holds the stored messages of the channels of its
//! shard (`shards` chooses), in records (`record`), and republishes each record, once stored, to its
//! channel's live subject.
//!
//! A channel's publishes on this node are stored in order and together (`chain`: group commit).
//! Each record carries the serial of the channel's message before it (`prev`) and is accepted only
//! if that still is the channel's last (`Nats-Expected-Last-Subject-Sequence`), so the stored
//! messages of a channel form an unbroken chain that shows any gap exactly, whichever nodes publish.
//! An idempotency key becomes the id JetStream deduplicates on (a keyed publish is a record alone).
//! Owns no delivery: the live path (`live`) reads from here to fill gaps and replay.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self, DirectGetErrorKind, Republish, StorageType};
use async_nats::jetstream::{self, Context};

use super::chain::{Chains, Stored, Waiting};
use super::record::{self, serial};
use super::stored_channel::StoredChannel;
use super::streams::{epoch_of, unix_nanos, EPOCH_KEY};
use super::subjects::Subjects;
use super::trim::Trims;
use crate::bus::StoreOptions;
use crate::channel_key::ChannelKey;
use crate::clock::unix_ms;
use crate::config::HistoryConfig;
use crate::history::{HistoryError, Position};
use crate::message::ChannelMessage;

/// Publishes of one channel retried after another node got in first, before giving up.
const MAX_CHAIN_RETRIES: usize = 20;
/// The longest a publish waits for JetStream to store its message (a leader election takes a few
/// seconds); past it the publisher gets 503 and retries, with its idempotency key if it has one.
const STORE_DEADLINE: Duration = Duration::from_secs(10);

fn too_late() -> HistoryError {
    HistoryError::unavailable("the message store did not answer in time; retry")
}

/// Why one attempt to store a record after the channel's last one failed.
enum Chained {
    /// Another node stored a message of the channel first.
    Behind,
    Failed(HistoryError),
}

struct Opened {
    stream: stream::Stream,
    /// The stream's creation time: a recreated stream is a new epoch.
    epoch: u64,
}

/// The JetStream stream of a cluster's messages.
pub struct MessageStore {
    js: Context,
    subjects: Subjects,
    /// Which message shard this is (its stream and subjects).
    shard: usize,
    limits: HistoryConfig,
    opened: tokio::sync::OnceCell<Opened>,
    /// Per channel, its publishes waiting to be stored and the serial of its last stored message.
    chains: Chains,
    /// Channels to trim to their app's retention.
    trims: Trims,
}

impl MessageStore {
    pub fn new(client: async_nats::Client, subjects: Subjects, limits: HistoryConfig, shard: usize) -> Self {
        MessageStore {
            trims: Trims::new(limits.trim_after),
            js: jetstream::new(client),
            subjects,
            shard,
            limits,
            opened: tokio::sync::OnceCell::new(),
            chains: Chains::default(),
        }
    }

    /// The stream, opened the first time it is needed (retried on the next use if NATS cannot be
    /// reached). Opening is boxed: awaited inline, its futures (about 10 KB) would make every
    /// caller's future as large, and a publish would copy them each time it is boxed.
    async fn opened(&self) -> Result<&Opened, HistoryError> {
        match self.opened.get() {
            Some(opened) => Ok(opened),
            None => Box::pin(self.open()).await,
        }
    }

    /// Creates or updates the stream, once.
    async fn open(&self) -> Result<&Opened, HistoryError> {
        self.opened
            .get_or_try_init(|| async {
                let (source, destination) = self.subjects.stored_all(self.shard);
                let config = stream::Config {
                    name: self.subjects.stream_name(self.shard),
                    subjects: vec![source.clone()],
                    storage: StorageType::File,
                    num_replicas: self.limits.replicas.max(1),
                    max_messages_per_subject: self.limits.max_messages_per_channel,
                    max_age: self.limits.max_age,
                    duplicate_window: self.limits.dedup_window.min(self.limits.max_age),
                    allow_direct: true,
                    republish: Some(Republish {
                        source,
                        destination,
                        headers_only: false,
                    }),
                    // Written when the stream is created (whichever node creates it), kept by updates.
                    metadata: [(EPOCH_KEY.to_string(), unix_nanos().to_string())].into(),
                    ..Default::default()
                };
                let stream = async {
                    let stream = super::streams::open(&self.js, config).await?;
                    super::streams::settled(&self.js, stream).await
                }
                .await
                .map_err(|e| HistoryError::failed("opening the message stream", e))?;
                let epoch = record::epoch(epoch_of(stream.cached_info()));
                Ok(Opened { stream, epoch })
            })
            .await
    }

    pub async fn epoch(&self) -> Result<u64, HistoryError> {
        Ok(self.opened().await?.epoch)
    }

    /// The epoch, if the stream is open already (never waits).
    pub fn opened_epoch(&self) -> Option<u64> {
        self.opened.get().map(|o| o.epoch)
    }

    /// Opens the stream in the background (retrying every second until NATS and JetStream answer),
    /// so subscribers are not kept waiting for it.
    pub fn open_in_background(self: &Arc<Self>) {
        let store = self.clone();
        tokio::spawn(async move {
            while let Err(e) = store.epoch().await {
                tracing::warn!(error = %e, "the message stream is not available yet");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    /// Stores an HTTP API message, chained after the channel's last one, together with the other
    /// publishes of the channel waiting meanwhile. Answers within `STORE_DEADLINE` (waiting for the
    /// channel's other publishes included), and never reports a failure once JetStream has
    /// acknowledged the message.
    pub async fn append(&self, mut message: ChannelMessage, options: &StoreOptions) -> Result<Stored, HistoryError> {
        let deadline = tokio::time::Instant::now() + STORE_DEADLINE;
        let opened = tokio::time::timeout_at(deadline, self.opened())
            .await
            .map_err(|_| too_late())??;
        let key = ChannelKey::of(&message.app_id, &message.channel);
        let subject = self.subjects.stored(self.shard, &key.app, &key.channel);
        let chain = self.chains.of(key);
        message.epoch = opened.epoch;
        let mut answered = chain.push(message, options.clone());
        tokio::time::timeout_at(deadline, async {
            let mut last = chain.writer.lock().await;
            // Stores what is queued, a record at a time, until this publish is answered; the
            // publishes queued behind go with the next holder of the writer lock.
            loop {
                match answered.try_recv() {
                    Ok(stored) => return stored,
                    Err(tokio::sync::oneshot::error::TryRecvError::Closed) => return Err(too_late()),
                    Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {}
                }
                let record = chain.take();
                if record.is_empty() {
                    return Err(HistoryError::unavailable(
                        "the publish left the queue unanswered; retry",
                    ));
                }
                self.store_record(opened, &subject, &mut last, record).await;
            }
        })
        .await
        .map_err(|_| too_late())?
    }

    /// Stores one record of waiting publishes after `last` and answers each.
    async fn store_record(&self, opened: &Opened, subject: &str, last: &mut Option<u64>, record: Vec<Waiting>) {
        let deadline = tokio::time::Instant::now() + STORE_DEADLINE;
        let options = record[0].options.clone();
        let (mut messages, answers): (Vec<ChannelMessage>, Vec<_>) =
            record.into_iter().map(|w| (w.message, w.answer)).unzip();
        let stored = tokio::time::timeout_at(
            deadline,
            self.store_chained(opened, subject, last, &mut messages, &options, deadline),
        )
        .await
        .unwrap_or_else(|_| {
            // Perhaps stored after all: the chain is read again next time, and a retry with the
            // same idempotency key is stored once.
            *last = None;
            Err(too_late())
        });
        if matches!(stored, Ok((_, false))) {
            self.trim_later(subject, &options);
        }
        let stored = stored.map_err(Arc::new);
        for (index, answer) in answers.into_iter().enumerate() {
            let result = match &stored {
                Ok((sequence, duplicate)) => Ok(Stored {
                    position: Position {
                        epoch: opened.epoch,
                        serial: serial(*sequence, index),
                    },
                    prev: if index == 0 {
                        messages[0].prev
                    } else {
                        serial(*sequence, index - 1)
                    },
                    duplicate: *duplicate,
                }),
                Err(e) => Err(HistoryError::Shared(e.clone())),
            };
            let _ = answer.send(result);
        }
    }

    /// Stores `messages` as one record chained after `last`, retrying when another node got in
    /// first; the record's stream sequence and whether it was a duplicate.
    async fn store_chained(
        &self,
        opened: &Opened,
        subject: &str,
        last: &mut Option<u64>,
        messages: &mut [ChannelMessage],
        options: &StoreOptions,
        deadline: tokio::time::Instant,
    ) -> Result<(u64, bool), HistoryError> {
        // Set when JetStream called the message a duplicate of one older than the app's window. (That
        // check reads the stream, only for duplicates: boxed, like `publish_after`'s read.)
        let mut fresh_after: Option<u64> = None;
        for _ in 0..MAX_CHAIN_RETRIES {
            match self
                .publish_after(&opened.stream, subject, *last, messages, options, fresh_after)
                .await
            {
                Ok(ack)
                    if ack.duplicate
                        && Box::pin(self.outlived_app_window(&opened.stream, ack.sequence, options, deadline))
                            .await =>
                {
                    // JetStream remembers the key for longer than this app wants: a new message.
                    fresh_after = Some(ack.sequence);
                    *last = None;
                }
                Ok(ack) => {
                    *last = match ack.duplicate {
                        true => None,
                        false => Some(serial(ack.sequence, messages.len() - 1)),
                    };
                    return Ok((ack.sequence, ack.duplicate));
                }
                // Another node stored a message of this channel since: read the new last one, retry.
                Err(Chained::Behind) => *last = None,
                Err(Chained::Failed(e)) => {
                    *last = None;
                    return Err(e);
                }
            }
        }
        Err(HistoryError::unavailable(
            "too many concurrent publishers on this channel; retry",
        ))
    }

    /// One attempt to store `messages` as a record right after `last` (read from the stream when
    /// not known).
    async fn publish_after(
        &self,
        stream: &stream::Stream,
        subject: &str,
        last: Option<u64>,
        messages: &mut [ChannelMessage],
        options: &StoreOptions,
        fresh_after: Option<u64>,
    ) -> Result<PublishAck, Chained> {
        // Reading the last sequence is the rare path (the node knows it once it has stored on the
        // channel): boxed, so that every publish's future does not carry the read's.
        let prev = match last {
            Some(seq) => seq,
            None => Box::pin(self.last_serial_of(stream, subject))
                .await
                .map_err(Chained::Failed)?
                .unwrap_or(0),
        };
        messages[0].prev = prev;
        let payload =
            record::encode(messages).map_err(|e| Chained::Failed(HistoryError::failed("encoding the message", e)))?;
        let mut publish = PublishMessage::build()
            .payload(payload.into())
            .expected_last_subject_sequence(record::sequence_of(prev));
        if let Some(k) = &options.idempotency_key {
            let first = &messages[0];
            let mut id = format!("{}:{}:{}", first.app_id, k, first.channel.as_str());
            if let Some(original) = fresh_after {
                // the key again, after the app's window: its own id, deduplicated from now on
                id.push_str(&format!("#{original}"));
            }
            publish = publish.message_id(id);
        }
        let ack = match self.js.send_publish(subject.to_string(), publish).await {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        ack.map_err(|e| match e.kind() {
            PublishErrorKind::WrongLastSequence => Chained::Behind,
            _ => Chained::Failed(HistoryError::failed("storing the message in JetStream", e)),
        })
    }

    /// True when the message JetStream deduplicated against (at `sequence`) was accepted longer ago
    /// than the app's own window (`StoreOptions::dedup_window_ms`, at most the stream's): then the
    /// publish is a new message. When the original cannot be read, JetStream's word stands.
    async fn outlived_app_window(
        &self,
        stream: &stream::Stream,
        sequence: u64,
        options: &StoreOptions,
        deadline: tokio::time::Instant,
    ) -> bool {
        let window = options.dedup_window_ms.max(0);
        if window as u128 >= self.limits.dedup_window.as_millis() {
            return false;
        }
        match tokio::time::timeout_at(deadline, stream.direct_get(sequence)).await {
            Ok(Ok(raw)) => record::decode(&raw.payload, sequence, 0)
                .first()
                .is_some_and(|original| unix_ms() - original.published_ms > window),
            _ => false,
        }
    }

    /// Has the channel trimmed later, when its app keeps fewer messages than the stream does (the
    /// stream's own limit is the largest any app may keep).
    fn trim_later(&self, subject: &str, options: &StoreOptions) {
        let Some(keep) = options.retention.map(|r| r.max_messages as i64) else {
            return;
        };
        if keep < self.limits.max_messages_per_channel {
            self.trims.appended(subject, keep as u64, Instant::now());
        }
    }

    /// Trims the channels due at `now` (a cluster task calls it).
    pub async fn trim(&self, now: Instant) {
        if let Some(opened) = self.opened.get() {
            self.trims.run(&opened.stream, now).await;
        }
    }

    /// Forgets the chains of channels not published to since the last call (a cluster task calls it).
    pub fn let_go_idle_chains(&self) {
        self.chains.let_go_idle();
    }

    /// The serial of a channel's last stored message.
    pub async fn last_serial(&self, key: &ChannelKey) -> Result<Option<u64>, HistoryError> {
        let opened = self.opened().await?;
        self.last_serial_of(
            &opened.stream,
            &self.subjects.stored(self.shard, &key.app, &key.channel),
        )
        .await
    }

    async fn last_serial_of(&self, stream: &stream::Stream, subject: &str) -> Result<Option<u64>, HistoryError> {
        match stream.direct_get_last_for_subject(subject).await {
            Ok(m) => Ok(Some(serial(m.sequence, record::count(&m.payload) - 1))),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(HistoryError::failed("reading the channel's last message", e)),
        }
    }

    /// The highest serial the stream holds so far (any channel).
    pub async fn stream_last(&self) -> Result<u64, HistoryError> {
        let opened = self.opened().await?;
        let info = opened
            .stream
            .get_info()
            .await
            .map_err(|e| HistoryError::failed("reading the message stream's state", e))?;
        Ok(record::through(info.state.last_sequence))
    }

    /// Reads one channel's stored messages.
    pub async fn reader(&self, key: &ChannelKey) -> Result<StoredChannel<'_>, HistoryError> {
        let opened = self.opened().await?;
        Ok(StoredChannel {
            stream: &opened.stream,
            epoch: opened.epoch,
            subject: self.subjects.stored(self.shard, &key.app, &key.channel),
            kept: Default::default(),
        })
    }
}
