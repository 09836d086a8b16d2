//! Cache channels' last events: replayed as the first event to a new subscriber, for the app's TTL.

use std::time::{Duration, Instant};

use super::wire::Frame;
use dashmap::DashMap;

use crate::channel_key::ChannelKey;

/// The last event of a cache channel.
#[derive(Clone)]
pub struct CachedEvent {
    /// The encoded frame, sent as is on subscribe.
    pub frame: Frame,
    /// The event's `event` and `data`, for `GET channels/{name}?info=cache`.
    pub event: String,
    pub data: String,
    stored: Instant,
    ttl: Duration,
}

impl CachedEvent {
    /// Seconds left before this event expires.
    pub fn ttl_left(&self, now: Instant) -> u64 {
        self.ttl.saturating_sub(now.duration_since(self.stored)).as_secs()
    }
}

/// Last events by channel.
#[derive(Default)]
pub struct ChannelCache {
    events: DashMap<ChannelKey, CachedEvent>,
}

impl ChannelCache {
    pub fn store(&self, key: ChannelKey, frame: Frame, event: &str, data: &str, ttl: Duration) {
        let cached = CachedEvent {
            frame,
            event: event.to_string(),
            data: data.to_string(),
            stored: Instant::now(),
            ttl,
        };
        self.events.insert(key, cached);
    }

    /// The channel's last event, unless it expired (then it is dropped).
    pub fn get(&self, key: &ChannelKey) -> Option<CachedEvent> {
        let now = Instant::now();
        let hit = self.events.get(key).map(|e| e.clone())?;
        if now.duration_since(hit.stored) < hit.ttl {
            Some(hit)
        } else {
            self.events.remove_if(key, |_, e| now.duration_since(e.stored) >= e.ttl);
            None
        }
    }

    /// Drops every expired event; run now and then so idle channels do not pin memory.
    pub fn sweep(&self) {
        let now = Instant::now();
        self.events.retain(|_, e| now.duration_since(e.stored) < e.ttl);
    }
}
