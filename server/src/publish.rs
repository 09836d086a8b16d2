//! The publish path: store (when the message is durable), then hand to the bus for fan-out.
//!
//! HTTP publishes are stored in history first, so they get a serial; client events skip history.
//! Nothing here knows about sockets.

use std::sync::Arc;

use crate::bus::{Bus, BusError};
use crate::history::{History, HistoryError, Position};
use crate::message::{ChannelMessage, Origin};
use crate::per_app::PerAppCounter;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// Stores and routes messages.
pub struct Publisher {
    history: Arc<dyn History>,
    bus: Arc<dyn Bus>,
    /// Messages accepted on this node, per app.
    accepted: PerAppCounter,
}

impl Publisher {
    pub fn new(history: Arc<dyn History>, bus: Arc<dyn Bus>) -> Self {
        Publisher {
            history,
            bus,
            accepted: PerAppCounter::default(),
        }
    }

    /// Publishes one message; returns its position when it was stored.
    pub async fn publish(&self, mut message: ChannelMessage) -> Result<Option<Position>, PublishError> {
        let position = match message.origin {
            Origin::Api => Some(self.history.append(&mut message).await?),
            Origin::Client => None,
        };
        let app_id = message.app_id.clone();
        self.bus.publish(Arc::new(message)).await?;
        self.accepted.add(&app_id, 1);
        Ok(position)
    }

    /// Messages of an app accepted on this node since it started.
    pub fn accepted(&self, app_id: &str) -> u64 {
        self.accepted.get(app_id)
    }

    pub fn bus_ready(&self) -> bool {
        self.bus.is_ready()
    }
}
