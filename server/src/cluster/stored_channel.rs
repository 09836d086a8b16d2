//! Reading one channel's stored messages out of its shard's stream, record by record: a serial
//! names a record (its stream sequence) and a place in it (`record`). The last record read is kept,
//! so walking through the messages of one record reads it once.

use std::sync::Arc;

use parking_lot::Mutex;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{self, DirectGetErrorKind};

use super::record::{self, index_of, sequence_of};
use crate::history::{ChannelReader, HistoryError};
use crate::message::ChannelMessage;

/// The messages of one record, numbered.
type Record = Arc<[Arc<ChannelMessage>]>;

/// One channel of a stream.
pub struct StoredChannel<'a> {
    pub(super) stream: &'a stream::Stream,
    pub(super) epoch: u64,
    pub(super) subject: String,
    /// The last record read: its stream sequence and messages.
    pub(super) last_read: Mutex<Option<(u64, Record)>>,
}

impl StoredChannel<'_> {
    /// The messages of a record read from the stream, if it is this channel's (kept as the last read).
    fn messages(&self, m: StreamMessage) -> Record {
        if m.subject.as_str() != self.subject {
            return Arc::new([]);
        }
        let messages: Record = (record::decode(&m.payload, m.sequence, self.epoch).into_iter())
            .map(Arc::new)
            .collect();
        *self.last_read.lock() = Some((m.sequence, messages.clone()));
        messages
    }

    /// The record stored at `sequence`, if it is this channel's.
    async fn record_at(&self, sequence: u64) -> Result<Record, HistoryError> {
        if sequence == 0 {
            return Ok(Arc::new([]));
        }
        if let Some((read, messages)) = self.last_read.lock().as_ref() {
            if *read == sequence {
                return Ok(messages.clone());
            }
        }
        match self.stream.direct_get(sequence).await {
            Ok(m) => Ok(self.messages(m)),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(Arc::new([])),
            Err(e) => Err(HistoryError::failed("reading a stored message", e)),
        }
    }
}

impl ChannelReader for StoredChannel<'_> {
    async fn next_after(&self, after: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        // The rest of `after`'s own record first, then the channel's next record.
        let sequence = sequence_of(after);
        if let Some(next) = self.record_at(sequence).await?.get(index_of(after) + 1) {
            return Ok(Some(next.clone()));
        }
        match self
            .stream
            .direct_get_next_for_subject(self.subject.as_str(), Some(sequence + 1))
            .await
        {
            Ok(m) => Ok(self.messages(m).first().cloned()),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(HistoryError::failed("reading the channel's next message", e)),
        }
    }

    async fn at(&self, serial: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        Ok(self
            .record_at(sequence_of(serial))
            .await?
            .get(index_of(serial))
            .cloned())
    }
}
