//! History: every stored channel message, numbered per channel.
//!
//! `History` is the seam: `MemoryHistory` serves the embedded mode; JetStream comes with the cluster
//! and no-loss work. This module assigns serials; it does not deliver anything.

mod memory;

pub use memory::MemoryHistory;

use async_trait::async_trait;

use crate::message::ChannelMessage;

/// A message's place in its channel's history: the history's epoch (changes when history is lost,
/// e.g. a restart of the in-memory store) and the message's serial within the channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub epoch: u64,
    pub serial: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("history store unavailable: {0}")]
    Unavailable(String),
}

/// Stores channel messages.
#[async_trait]
pub trait History: Send + Sync + 'static {
    /// Stores `message`, setting its serial; returns its position.
    async fn append(&self, message: &mut ChannelMessage) -> Result<Position, HistoryError>;
    /// The current position of a channel (serial 0 when it has no message).
    async fn position(&self, app_id: &str, channel: &str) -> Result<Position, HistoryError>;
}
