//! The bus: how a message reaches every node that has subscribers on its channel.
//!
//! `Bus` is the seam. `LocalBus` (embedded mode) hands the message straight to this node's hub;
//! the NATS implementation comes with the cluster work. The bus never encodes frames or knows
//! about sockets: it delivers `ChannelMessage`s to a `Deliver` sink (the hub).

mod local;

pub use local::LocalBus;

use std::sync::Arc;

use async_trait::async_trait;

use crate::message::ChannelMessage;

/// Errors of the bus layer.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// Where the bus hands the messages it receives: the hub of this node.
pub trait Deliver: Send + Sync + 'static {
    fn deliver(&self, message: &ChannelMessage);
}

/// Carries messages to every interested node.
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    async fn publish(&self, message: Arc<ChannelMessage>) -> Result<(), BusError>;
    /// True while the bus can carry messages.
    fn is_ready(&self) -> bool;
}
