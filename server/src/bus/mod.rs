//! The bus: stores a channel's messages (those from the HTTP API) and carries every message to each node
//! with subscribers on its channel, in the channel's order; and attaches new subscribers at a point of
//! that order, with what they asked to replay.
//!
//! `Bus` is the seam. `LocalBus` (embedded mode) stores in memory and hands messages straight to this
//! node's hub; the cluster stores in JetStream and routes through NATS. The bus never encodes frames
//! or knows about sockets: it delivers `ChannelMessage`s to a `Deliver` sink (the hub).

mod local;

pub use local::LocalBus;

use async_trait::async_trait;

use crate::channel_key::ChannelKey;
use crate::history::{BoxedSource, HistoryError, Page, PageQuery, Position, Retention, StartFrom, StreamStart};
use crate::message::ChannelMessage;

/// Errors of the bus layer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// Not connected to what carries messages (NATS): nothing was tried.
    #[error("bus unavailable: {0}")]
    Unavailable(&'static str),
    /// Sending to the bus failed: `context` says what failed, `source` why.
    #[error("bus unavailable: {context}: {source}")]
    Failed {
        context: &'static str,
        #[source]
        source: BoxedSource,
    },
    /// Storing or reading the channel's history failed.
    #[error(transparent)]
    History(#[from] HistoryError),
}

impl BusError {
    pub fn failed(context: &'static str, source: impl Into<BoxedSource>) -> Self {
        BusError::Failed {
            context,
            source: source.into(),
        }
    }
}

/// Where the bus hands the messages it receives: the hub of this node.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, message: &ChannelMessage);
}

/// How an HTTP API message is stored.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Stored once per channel, however often it comes again within `dedup_window_ms`.
    pub idempotency_key: Option<String>,
    pub dedup_window_ms: i64,
    pub retention: Option<Retention>,
}

/// What a publish did.
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// Where the message was stored (`None` for messages that are not stored).
    pub position: Option<Position>,
    /// It had been stored before under the same idempotency key; nothing was delivered this time.
    pub duplicate: bool,
}

/// Runs once, in the channel's delivery order, with what a new subscriber gets first.
pub type Attach = Box<dyn FnOnce(StreamStart) + Send>;

/// Stores and carries messages.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Stores `message` when it comes from the HTTP API, then carries it; returns once it is stored.
    async fn publish(&self, message: ChannelMessage, options: &StoreOptions) -> Result<Published, BusError>;
    /// Calls `attach` at a point of `key`'s delivery order where nothing is in flight on this node, with
    /// the position the subscriber's stream starts after and the messages it asked to replay; returns
    /// once `attach` has run (or never will: the node lost the channel's stream). Whatever this node
    /// must do to receive the channel (a cluster node subscribes to it) is done before `attach` runs.
    async fn attach(&self, key: &ChannelKey, from: Option<StartFrom>, retention: Retention, attach: Attach);
    /// A page of a channel's stored messages.
    async fn history(&self, key: &ChannelKey, query: PageQuery, retention: Retention) -> Result<Page, BusError>;
    /// True while the bus can carry messages.
    fn is_ready(&self) -> bool;
}
