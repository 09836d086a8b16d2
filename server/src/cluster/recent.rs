//! The last messages a channel task delivered, so most resumes and rewinds are served from memory
//! at once, without reading the store inside the channel's delivery order.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::history::{ChannelReader, HistoryError};
use crate::message::ChannelMessage;

/// Messages kept per channel with subscribers on this node.
const MAX_MESSAGES: usize = 256;
/// Bytes of payload kept per channel.
const MAX_BYTES: usize = 128 * 1024;

/// The newest delivered messages of one channel, in delivery (serial) order.
#[derive(Default)]
pub struct RecentMessages {
    messages: VecDeque<Arc<ChannelMessage>>,
    bytes: usize,
}

impl RecentMessages {
    pub fn push(&mut self, message: Arc<ChannelMessage>) {
        self.bytes += message.content_bytes();
        self.messages.push_back(message);
        while self.messages.len() > MAX_MESSAGES || (self.bytes > MAX_BYTES && self.messages.len() > 1) {
            if let Some(old) = self.messages.pop_front() {
                self.bytes -= old.content_bytes();
            }
        }
    }

    /// True when every delivered message after `after` is still here.
    fn covers(&self, after: u64) -> bool {
        self.messages
            .front()
            .is_some_and(|first| first.prev <= after || first.serial <= after)
    }

    /// The delivered messages after `after`, when every one of them is still here.
    pub fn after(&self, after: u64) -> Option<Vec<Arc<ChannelMessage>>> {
        self.covers(after)
            .then(|| self.messages.iter().filter(|m| m.serial > after).cloned().collect())
    }
}

impl ChannelReader for RecentMessages {
    async fn next_after(&self, after: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        if !self.covers(after) {
            return Err(HistoryError::NotCached);
        }
        Ok(self.messages.iter().find(|m| m.serial > after).cloned())
    }

    async fn at(&self, serial: u64) -> Result<Option<Arc<ChannelMessage>>, HistoryError> {
        match self.messages.iter().find(|m| m.serial == serial) {
            Some(m) => Ok(Some(m.clone())),
            None if self.messages.front().is_none_or(|f| serial < f.serial) => Err(HistoryError::NotCached),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{MessageData, Origin};
    use crate::protocol::ChannelName;
    use futures_util::FutureExt;

    fn message(serial: u64, prev: u64) -> Arc<ChannelMessage> {
        let mut m = ChannelMessage::new(
            Arc::from("a"),
            ChannelName::parse("c").unwrap(),
            "e".into(),
            MessageData::Text("x".into()),
            Origin::Api,
        );
        (m.serial, m.prev) = (serial, prev);
        Arc::new(m)
    }

    #[test]
    fn answers_only_what_it_holds_whole() {
        let mut recent = RecentMessages::default();
        for (serial, prev) in [(10, 7), (12, 10), (15, 12)] {
            recent.push(message(serial, prev));
        }
        let next = |after| {
            recent
                .next_after(after)
                .now_or_never()
                .unwrap()
                .map(|m| m.map(|m| m.serial))
        };
        assert_eq!(next(7).unwrap(), Some(10));
        assert_eq!(next(11).unwrap(), Some(12));
        assert_eq!(next(15).unwrap(), None);
        assert!(next(5).is_err(), "messages after 5 and before 7 may exist elsewhere");
        assert_eq!(recent.after(10).unwrap().len(), 2);
        assert!(recent.after(6).is_none());
        assert!(recent.at(7).now_or_never().unwrap().is_err());
        assert_eq!(recent.at(13).now_or_never().unwrap().unwrap().map(|m| m.serial), None);
    }
}
