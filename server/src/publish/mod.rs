//! The publish path: hand a message to the bus, which stores it (HTTP API messages) and carries it.
//! `request` checks and carries out a publish request as the HTTP API takes it.
//!
//! Counts what was accepted; knows nothing about sockets or HTTP.

pub mod request;

use std::sync::Arc;

use crate::bus::{Bus, BusError, Published, StoreOptions};
use crate::message::ChannelMessage;
use crate::per_app::PerAppCounter;

/// Stores and routes messages.
pub struct Publisher {
    bus: Arc<dyn Bus>,
    /// Messages accepted on this node, per app (shared with `LocalNode`, which reports them).
    accepted: Arc<PerAppCounter>,
}

impl Publisher {
    pub fn new(bus: Arc<dyn Bus>, accepted: Arc<PerAppCounter>) -> Self {
        Publisher { bus, accepted }
    }

    /// Publishes one message; returns once it is stored (HTTP API messages) or handed to the bus.
    pub async fn publish(&self, message: ChannelMessage, options: &StoreOptions) -> Result<Published, BusError> {
        let app_id = message.app_id.clone();
        let published = self.bus.publish(message, options).await?;
        if !published.duplicate {
            self.accepted.add(&app_id, 1);
        }
        Ok(published)
    }

    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    pub fn bus_ready(&self) -> bool {
        self.bus.is_ready()
    }
}
