//! Reading one channel's stored messages out of its shard's stream, record by record: a serial
//! names a record (its stream sequence) and a place in it (`record`).

use std::sync::Arc;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{self, DirectGetErrorKind};

use super::record::{self, index_of, sequence_of};
use crate::history::{ChannelReader, HistoryError};
use crate::message::ChannelMessage;

/// One channel of a stream.
pub struct StoredChannel<'a> {
    pub(super) stream: &'a stream::Stream,
    pub(super) epoch: u64,
    pub(super) subject: String,
}

impl StoredChannel<'_> {
    /// The messages of a record read from the stream, if it is this channel's.
    fn messages(&self, m: StreamMessage) -> Vec<ChannelMessage> {
        if m.subject.as_str() != self.subject {
            return Vec::new();
        }
        record::decode(&m.payload, m.sequence, self.epoch)
    }

    /// The record stored at `sequence`, if it is this channel's.
    async fn record_at(&self, sequence: u64) -> Result<Vec<ChannelMessage>, HistoryError> {
        if sequence == 0 {
            return Ok(Vec::new());
        }
        match self.stream.direct_get(sequence).await {
            Ok(m) => Ok(self.messages(m)),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(HistoryError::failed("reading a stored message", e)),
        }
    }
}

impl ChannelReader for StoredChannel<'_> {
    async fn next_after(&self, after: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        // The rest of `after`'s own record first, then the channel's next record.
        let sequence = sequence_of(after);
        if let Some(next) = self.record_at(sequence).await?.into_iter().nth(index_of(after) + 1) {
            return Ok(Some(Arc::new(next)));
        }
        match self
            .stream
            .direct_get_next_for_subject(self.subject.as_str(), Some(sequence + 1))
            .await
        {
            Ok(m) => Ok(self.messages(m).into_iter().next().map(Arc::new)),
            Err(e) if e.kind() == DirectGetErrorKind::NotFound => Ok(None),
            Err(e) => Err(HistoryError::failed("reading the channel's next message", e)),
        }
    }

    async fn at(&self, serial: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        let record = self.record_at(sequence_of(serial)).await?;
        Ok(record.into_iter().nth(index_of(serial)).map(Arc::new))
    }
}
