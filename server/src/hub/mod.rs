//! The hub: this node's live connections, channels, presence members, signed-in users and cache
//! channels, and the fan-out of messages to local subscribers.
//!
//! Owns node-local state only. Messages arrive through `Deliver` (from the bus); the hub never
//! stores history or talks to other nodes. Frames are encoded once per message and shared.

mod cache;
mod connection;
mod presence;
mod registry;
mod subscription_count;
mod users;

pub use cache::CachedEvent;
pub use connection::{CloseReason, Connection, Frame};
pub use presence::Member;
pub use registry::{ChannelKey, ChannelRegistry, JoinError, Joined, Left};
pub use users::UserRegistry;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::Value;

use crate::apps::AppDirectory;
use crate::bus::Deliver;
use crate::message::{ChannelMessage, Origin};
use crate::protocol::{frame, ChannelKind, ChannelName, CloseCode};
use crate::store::App;
use cache::ChannelCache;
use subscription_count::{CountThrottle, Notice};

/// Node-local realtime state.
pub struct Hub {
    pub channels: ChannelRegistry,
    pub users: UserRegistry,
    cache: ChannelCache,
    counts: CountThrottle,
    per_app: DashMap<Arc<str>, usize>,
    total: AtomicUsize,
    apps: Arc<AppDirectory>,
}

impl Hub {
    pub fn new(apps: Arc<AppDirectory>) -> Self {
        Hub {
            channels: ChannelRegistry::default(),
            users: UserRegistry::default(),
            cache: ChannelCache::default(),
            counts: CountThrottle::default(),
            per_app: DashMap::new(),
            total: AtomicUsize::new(0),
            apps,
        }
    }

    /// Counts a new connection against the node's and the app's limits (0 = unlimited).
    pub fn admit(&self, app: &App, node_limit: usize) -> Result<(), CloseCode> {
        if node_limit > 0 && self.total.load(Ordering::Relaxed) >= node_limit {
            return Err(CloseCode::OverCapacity);
        }
        let mut count = self.per_app.entry(Arc::from(app.id.as_str())).or_insert(0);
        let limit = app.settings.max_connections as usize;
        if limit > 0 && *count >= limit {
            return Err(CloseCode::AppOverQuota);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Releases what `admit` counted.
    pub fn release(&self, app_id: &Arc<str>) {
        if let Some(mut count) = self.per_app.get_mut(app_id) {
            *count = count.saturating_sub(1);
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn connection_count(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn app_connection_count(&self, app_id: &str) -> usize {
        self.per_app.get(app_id).map(|c| *c).unwrap_or(0)
    }

    /// Subscribes `conn`: queues `subscription_succeeded` (with `extra` merged into non-presence data),
    /// then the cached event or `pusher:cache_miss` on cache channels, then a subscription-count notice.
    pub fn subscribe(
        self: &Arc<Self>,
        conn: &Arc<Connection>,
        app: &App,
        channel: &ChannelName,
        member: Option<&Member>,
    ) -> Result<Joined, JoinError> {
        let key: ChannelKey = (conn.app_id.clone(), channel.clone());
        let cached = channel.is_cache().then(|| self.cache.get(&key));
        let greeting = |presence: Option<&Value>| {
            let data = presence
                .cloned()
                .unwrap_or_else(|| Value::Object(Default::default()));
            let mut frames = vec![Frame::from(frame::subscription_succeeded(
                channel.as_str(),
                &data,
            ))];
            match cached {
                Some(Some(hit)) => frames.push(hit.frame),
                Some(None) => frames.push(Frame::from(frame::cache_miss(channel.as_str()))),
                None => {}
            }
            frames
        };
        let max_members = app.settings.max_presence_members as usize;
        let joined = self
            .channels
            .subscribe(conn, channel, member, max_members, greeting)?;
        self.count_changed(app, &key, joined.subscribers);
        Ok(joined)
    }

    /// Unsubscribes `conn` from `channel`.
    pub fn unsubscribe(self: &Arc<Self>, conn: &Connection, channel: &ChannelName) -> Option<Left> {
        let left = self
            .channels
            .unsubscribe(&conn.app_id, channel, &conn.socket_id)?;
        let key: ChannelKey = (conn.app_id.clone(), channel.clone());
        if left.subscribers == 0 {
            self.counts.forget(&key);
        } else if let Some(app) = self.apps.by_id(&conn.app_id) {
            self.count_changed(&app, &key, left.subscribers);
        }
        Some(left)
    }

    /// The cached event of a cache channel.
    pub fn cached(&self, key: &ChannelKey) -> Option<CachedEvent> {
        self.cache.get(key)
    }

    /// Drops expired cache entries.
    pub fn sweep(&self) {
        self.cache.sweep();
    }

    fn count_changed(self: &Arc<Self>, app: &App, key: &ChannelKey, subscribers: usize) {
        if !app.settings.subscription_count || key.1.kind() == ChannelKind::ServerToUser {
            return;
        }
        match self.counts.on_change(key, subscribers, Instant::now()) {
            Notice::SendNow => self.send_count(key),
            Notice::SendLater(wait) => {
                let hub = Arc::clone(self);
                let key = key.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(wait).await;
                    hub.counts.sent_scheduled(&key, Instant::now());
                    hub.send_count(&key);
                });
            }
            Notice::AlreadyScheduled => {}
        }
    }

    fn send_count(&self, key: &ChannelKey) {
        let count = self.channels.subscriber_count(&key.0, &key.1);
        if count > 0 {
            let notice = Frame::from(frame::subscription_count(key.1.as_str(), count));
            self.channels.fan_out(&key.0, &key.1, &notice, None);
        }
    }
}

impl Deliver for Hub {
    /// Encodes the message once and queues it for every local subscriber.
    fn deliver(&self, message: &ChannelMessage) {
        let user_id = message.user_id.as_deref();
        let frame = Frame::from(frame::channel_event(
            &message.event,
            message.channel.as_str(),
            message.data.as_event_data(),
            user_id,
        ));
        if message.origin == Origin::Api && message.channel.is_cache() {
            let ttl = self
                .apps
                .by_id(&message.app_id)
                .map(|a| a.settings.cache_ttl)
                .unwrap_or(1800);
            let key = (message.app_id.clone(), message.channel.clone());
            let ttl = Duration::from_secs(ttl as u64);
            self.cache.store(
                key,
                frame.clone(),
                &message.event,
                message.data.as_text(),
                ttl,
            );
        }
        self.channels.fan_out(
            &message.app_id,
            &message.channel,
            &frame,
            message.exclude.as_ref(),
        );
    }
}
