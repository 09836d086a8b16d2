//! What one JetStream message of a message stream holds: a record of one or more channel messages
//! of one channel, stored together (group commit: the publishes waiting on a channel go in one
//! JetStream write). One message is stored as a JSON object, several as an array.
//!
//! A message's serial is its record's stream sequence times `SLOTS` plus its index in the record,
//! so serials grow with the stream and every message of a record has its own. The first message
//! carries the serial of the channel's message before the record (`prev`); the others follow the
//! one before them in the record, which `decode` writes into their `prev`.
//!
//! Pure: no NATS here.

use serde::de::IgnoredAny;

use crate::message::ChannelMessage;

/// Serials per stream sequence: the most messages one record may hold.
pub const SLOTS: u64 = 1024;

/// Marks the epochs of streams whose serials are `sequence * SLOTS + index`, so a position taken
/// before records existed (when a serial was the stream sequence) is answered `epoch_changed`
/// instead of being read in the new numbering.
const RECORD_EPOCH: u64 = 1 << 62;

/// The serial of the message at `index` of the record stored at `sequence`.
pub fn serial(sequence: u64, index: usize) -> u64 {
    sequence * SLOTS + index as u64
}

/// The stream sequence of the record holding `serial`.
pub fn sequence_of(serial: u64) -> u64 {
    serial / SLOTS
}

/// The index of `serial` in its record.
pub fn index_of(serial: u64) -> usize {
    (serial % SLOTS) as usize
}

/// The highest serial a record stored at or before `sequence` can hold.
pub fn through(sequence: u64) -> u64 {
    sequence * SLOTS + (SLOTS - 1)
}

/// The epoch of positions in a stream created at `stream_epoch`.
pub fn epoch(stream_epoch: u64) -> u64 {
    stream_epoch ^ RECORD_EPOCH
}

/// The record of `messages` (the first's `prev` set by the caller).
pub fn encode(messages: &[ChannelMessage]) -> Result<Vec<u8>, serde_json::Error> {
    match messages {
        [one] => serde_json::to_vec(one),
        many => serde_json::to_vec(many),
    }
}

/// The messages of the record stored at `sequence`, numbered, in order; none when it is unreadable.
pub fn decode(payload: &[u8], sequence: u64, epoch: u64) -> Vec<ChannelMessage> {
    let read = match payload.first() {
        Some(b'[') => serde_json::from_slice::<Vec<ChannelMessage>>(payload),
        _ => serde_json::from_slice::<ChannelMessage>(payload).map(|m| vec![m]),
    };
    let mut messages = read
        .map_err(|e| tracing::warn!(error = %e, sequence, "unreadable stored record"))
        .unwrap_or_default();
    for (index, message) in messages.iter_mut().enumerate() {
        if index > 0 {
            message.prev = serial(sequence, index - 1);
        }
        message.serial = serial(sequence, index);
        message.epoch = epoch;
    }
    messages
}

/// How many messages the record holds (at least one), without decoding them.
pub fn count(payload: &[u8]) -> usize {
    match payload.first() {
        Some(b'[') => serde_json::from_slice::<Vec<IgnoredAny>>(payload).map_or(1, |v| v.len().max(1)),
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageData, Origin};
    use crate::protocol::ChannelName;
    use std::sync::Arc;

    fn message(text: &str) -> ChannelMessage {
        let channel = ChannelName::parse("c").unwrap();
        ChannelMessage::new(
            Arc::from("1"),
            channel,
            "e".into(),
            MessageData::Text(text.into()),
            Origin::Api,
        )
    }

    #[test]
    fn a_record_of_several_numbers_each_and_chains_them() {
        let mut batch = vec![message("a"), message("b"), message("c")];
        batch[0].prev = serial(7, 0);
        let payload = encode(&batch).unwrap();
        assert_eq!(count(&payload), 3);
        let read = decode(&payload, 9, 5);
        let numbered: Vec<(u64, u64, &str)> = read.iter().map(|m| (m.prev, m.serial, m.data.as_text())).collect();
        assert_eq!(
            numbered,
            vec![
                (7 * SLOTS, 9 * SLOTS, "a"),
                (9 * SLOTS, 9 * SLOTS + 1, "b"),
                (9 * SLOTS + 1, 9 * SLOTS + 2, "c")
            ]
        );
        assert!(read.iter().all(|m| m.epoch == 5));
    }

    #[test]
    fn a_record_of_one_is_the_message_itself() {
        let mut one = message("x");
        one.prev = 3;
        let payload = encode(std::slice::from_ref(&one)).unwrap();
        assert_eq!(payload.first(), Some(&b'{'));
        assert_eq!(count(&payload), 1);
        let read = decode(&payload, 4, 1);
        assert_eq!((read[0].prev, read[0].serial), (3, 4 * SLOTS));
        assert!(decode(b"not json", 4, 1).is_empty());
    }

    #[test]
    fn serials_order_records_and_their_messages() {
        assert!(serial(5, SLOTS as usize - 1) < serial(6, 0));
        assert_eq!((sequence_of(serial(6, 3)), index_of(serial(6, 3))), (6, 3));
        assert_eq!(through(6), serial(7, 0) - 1);
        assert_ne!(epoch(1_800_000_000_000_000_000), 1_800_000_000_000_000_000);
    }
}
