//! The in-process bus of a single node: publishing is delivering to the local hub.

use std::sync::Arc;

use async_trait::async_trait;

use super::{Bus, BusError, Deliver};
use crate::message::ChannelMessage;

pub struct LocalBus {
    sink: Arc<dyn Deliver>,
}

impl LocalBus {
    pub fn new(sink: Arc<dyn Deliver>) -> Self {
        LocalBus { sink }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, message: Arc<ChannelMessage>) -> Result<(), BusError> {
        self.sink.deliver(&message);
        Ok(())
    }

    fn is_ready(&self) -> bool {
        true
    }
}
