//! In-memory history: the last `capacity` messages of each channel, lost on restart (a new epoch).

use std::collections::VecDeque;
use std::sync::Arc;

use async_trait::async_trait;
use dashmap::DashMap;

use super::{History, HistoryError, Position};
use crate::message::ChannelMessage;

struct ChannelLog {
    serial: u64,
    messages: VecDeque<Arc<ChannelMessage>>,
}

/// Per-channel ring buffers.
pub struct MemoryHistory {
    epoch: u64,
    capacity: usize,
    channels: DashMap<(Arc<str>, Arc<str>), ChannelLog>,
}

impl MemoryHistory {
    pub fn new(capacity: usize) -> Self {
        MemoryHistory {
            epoch: rand::random::<u32>() as u64,
            capacity,
            channels: DashMap::new(),
        }
    }
}

#[async_trait]
impl History for MemoryHistory {
    async fn append(&self, message: &mut ChannelMessage) -> Result<Position, HistoryError> {
        let key = (message.app_id.clone(), Arc::from(message.channel.as_str()));
        let mut log = self.channels.entry(key).or_insert_with(|| ChannelLog {
            serial: 0,
            messages: VecDeque::new(),
        });
        log.serial += 1;
        message.serial = log.serial;
        if self.capacity > 0 {
            if log.messages.len() == self.capacity {
                log.messages.pop_front();
            }
            log.messages.push_back(Arc::new(message.clone()));
        }
        Ok(Position {
            epoch: self.epoch,
            serial: log.serial,
        })
    }

    async fn position(&self, app_id: &str, channel: &str) -> Result<Position, HistoryError> {
        let serial = self
            .channels
            .get(&(Arc::from(app_id), Arc::from(channel)))
            .map(|l| l.serial)
            .unwrap_or(0);
        Ok(Position {
            epoch: self.epoch,
            serial,
        })
    }
}
