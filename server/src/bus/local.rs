//! The in-process bus of a single node: storing a message in the embedded history (in memory, and in
//! its journal when on disk) and delivering it to the local hub happen under the channel's log lock,
//! so serials and deliveries share one order, and nothing is delivered that was not stored.

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::FutureExt;

use super::{Attach, Bus, BusError, Deliver, Published, StoreOptions};
use crate::channel_key::ChannelKey;
use crate::clock::unix_ms;
use crate::history::{page, plan_start, MemoryHistory, NotRecovered, Page, PageQuery, Position, Retention};
use crate::history::{StartFrom, StreamStart};
use crate::message::{ChannelMessage, Origin};

pub struct LocalBus {
    sink: Arc<dyn Deliver>,
    history: Arc<MemoryHistory>,
}

impl LocalBus {
    /// Stores in `history` and delivers to `sink`.
    pub fn new(sink: Arc<dyn Deliver>, history: Arc<MemoryHistory>) -> Self {
        LocalBus { sink, history }
    }
}

#[async_trait]
impl Bus for LocalBus {
    async fn publish(&self, mut message: ChannelMessage, options: &StoreOptions) -> Result<Published, BusError> {
        let (Origin::Api, Some(retention)) = (message.origin, options.retention) else {
            self.sink.deliver(&message);
            return Ok(Published {
                position: None,
                duplicate: false,
            });
        };
        let key = ChannelKey::of(&message.app_id, &message.channel);
        let published = self.history.with_log_mut(&key, |log| -> Result<Published, BusError> {
            let epoch = self.history.epoch();
            if let Some(serial) = options.idempotency_key.as_deref().and_then(|k| log.seen(k, unix_ms())) {
                return Ok(Published {
                    position: Some(Position { epoch, serial }),
                    duplicate: true,
                });
            }
            let key = options.idempotency_key.as_deref().map(|k| (k, options.dedup_window_ms));
            let app = message.app_id.clone();
            let position = self.history.append(&app, log, &mut message, retention, key)?;
            self.sink.deliver(&message);
            Ok(Published {
                position: Some(position),
                duplicate: false,
            })
        })?;
        // With the channel's lock released: trimming takes other channels' locks.
        self.history.keep_to_budget();
        Ok(published)
    }

    async fn attach(&self, key: &ChannelKey, from: Option<StartFrom>, retention: Retention, attach: Attach) {
        let epoch = self.history.epoch();
        self.history.with_log(key, |log| {
            let planned = plan_start(log, epoch, log.serial(), from, retention, unix_ms());
            // Reading the in-memory log never waits, so the plan is ready at once.
            let start = planned.now_or_never().unwrap_or_else(|| {
                let current = Position {
                    epoch,
                    serial: log.serial(),
                };
                StreamStart::at(current, from.map(|_| NotRecovered::Unavailable))
            });
            attach(start);
        });
    }

    async fn history(&self, key: &ChannelKey, query: PageQuery, retention: Retention) -> Result<Page, BusError> {
        let read = self.history.with_log(key, |log| {
            page(log, log.serial(), query, retention, unix_ms()).now_or_never()
        });
        let mut page = read.transpose()?.unwrap_or_default();
        page.epoch = self.history.epoch();
        Ok(page)
    }

    fn is_ready(&self) -> bool {
        true
    }
}
