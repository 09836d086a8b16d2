//! Reading one channel's stored messages out of its shard's stream, record by record: a serial
//! names a record (its stream sequence) and a place in it (`record`). The records read are kept
//! for the reader's life (up to `KEPT_BYTES`, then only the last one), so walking through the
//! messages of one record reads it once, and a history page's two walks back (to the oldest message
//! the app keeps, then the page itself) read each record once.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::{self, DirectGetErrorKind};

use super::record::{self, index_of, sequence_of};
use crate::history::{ChannelReader, HistoryError};
use crate::message::ChannelMessage;

/// The messages of one record, numbered.
type Record = Arc<[Arc<ChannelMessage>]>;

/// Bytes of messages (event names and data) one reader keeps of the records it read.
const KEPT_BYTES: usize = 1 << 20;

/// The records one reader has read, by stream sequence.
#[derive(Default)]
pub(super) struct KeptRecords {
    records: HashMap<u64, Record>,
    bytes: usize,
}

impl KeptRecords {
    fn get(&self, sequence: u64) -> Option<Record> {
        self.records.get(&sequence).cloned()
    }

    /// Keeps `record`; past `KEPT_BYTES` the others go first.
    fn keep(&mut self, sequence: u64, record: Record) {
        let bytes = record.iter().map(|m| m.content_bytes()).sum::<usize>();
        if self.bytes + bytes > KEPT_BYTES {
            self.records.clear();
            self.bytes = 0;
        }
        self.bytes += bytes;
        self.records.insert(sequence, record);
    }
}

/// One channel of a stream.
pub struct StoredChannel<'a> {
    pub(super) stream: &'a stream::Stream,
    pub(super) epoch: u64,
    pub(super) subject: String,
    /// The records read so far.
    pub(super) kept: Mutex<KeptRecords>,
}

impl StoredChannel<'_> {
    /// The messages of a record read from the stream, if it is this channel's (kept).
    fn messages(&self, m: StreamMessage) -> Record {
        if m.subject.as_str() != self.subject {
            return Arc::new([]);
        }
        let messages: Record = (record::decode(&m.payload, m.sequence, self.epoch).into_iter())
            .map(Arc::new)
            .collect();
        self.kept.lock().keep(m.sequence, messages.clone());
        messages
    }

    /// The record stored at `sequence`, if it is this channel's.
    async fn record_at(&self, sequence: u64) -> Result<Record, HistoryError> {
        if sequence == 0 {
            return Ok(Arc::new([]));
        }
        if let Some(messages) = self.kept.lock().get(sequence) {
            return Ok(messages);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageData, Origin};
    use crate::protocol::ChannelName;

    fn record(text_bytes: usize) -> Record {
        let message = ChannelMessage::new(
            Arc::from("1"),
            ChannelName::parse("c").unwrap(),
            "e".into(),
            MessageData::Text("x".repeat(text_bytes)),
            Origin::Api,
        );
        Arc::new([Arc::new(message)])
    }

    #[test]
    fn records_are_kept_up_to_their_bytes_then_the_last_one_only() {
        let mut kept = KeptRecords::default();
        kept.keep(1, record(100));
        kept.keep(2, record(100));
        assert!(kept.get(1).is_some() && kept.get(2).is_some(), "both kept");
        assert!(kept.get(3).is_none());
        kept.keep(3, record(KEPT_BYTES - 150));
        assert!(kept.get(1).is_none() && kept.get(2).is_none(), "the others went first");
        assert!(kept.get(3).is_some(), "the last one read stays");
        kept.keep(4, record(KEPT_BYTES * 2));
        assert!(
            kept.get(4).is_some(),
            "even a record above the bound is kept while it is the last"
        );
        assert!(kept.get(3).is_none());
    }
}
