//! The hub: this node's live connections, channels, presence members, signed-in users and cache
//! channels, and the fan-out of messages to local subscribers.
//!
//! Owns node-local state only. Messages arrive through `Deliver` (from the bus); the hub never
//! stores history or talks to other nodes. Frames are encoded once per message and shared.

mod admission;
mod cache;
mod connection;
mod counts;
mod observers;
mod outbound;
mod presence;
mod registry;
mod subscription_count;
mod users;
mod wire;

pub use cache::CachedEvent;
pub use connection::{CloseReason, Connection, ConnectionMeta, Membership};
pub use observers::{Decides, Decision, Observers};
pub use outbound::{Flushed, Outbound, Sink, Wake};
pub use presence::Member;
pub use registry::{ChannelRegistry, JoinError, Joined, Left};
pub use users::UserRegistry;
pub use wire::Frame;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::apps::AppDirectory;
use crate::bus::Deliver;
use crate::channel_key::ChannelKey;
use crate::history::StreamStart;
use crate::message::{ChannelMessage, Origin};
use crate::per_app::PerAppCounter;
use crate::protocol::{frame, ChannelName, SocketId};
use crate::store::App;
use crate::webhooks::{Observation, WebhookEvent};
use cache::ChannelCache;
use subscription_count::CountThrottle;

/// Node-local realtime state.
pub struct Hub {
    pub channels: ChannelRegistry,
    /// Where webhook-worthy events go.
    pub observers: Arc<Observers>,
    pub users: UserRegistry,
    cache: ChannelCache,
    counts: CountThrottle,
    /// Every live connection of this node.
    live: DashMap<SocketId, Arc<Connection>>,
    per_app: DashMap<Arc<str>, usize>,
    per_tenant: DashMap<Arc<str>, usize>,
    /// Live connections per client address (only while `Limits::address` is set, it is checked).
    per_address: DashMap<IpAddr, usize>,
    total: AtomicUsize,
    /// Messages and bytes in and out of the connections that have ended (live ones are summed when
    /// asked).
    ended_traffic: [AtomicU64; 4],
    /// Other nodes' subscriber counts of channels with subscription counting, by node.
    remote_counts: DashMap<ChannelKey, HashMap<Arc<str>, usize>>,
    /// Where hub events go: the cluster layer; `None` on a single node, where nobody listens.
    events: Option<mpsc::UnboundedSender<HubEvent>>,
    /// Frames delivered per app.
    delivered: PerAppCounter,
    apps: Arc<AppDirectory>,
}

/// What the hub tells the cluster layer; on a single node nobody listens.
#[derive(Debug)]
pub enum HubEvent {
    /// This node gained its first (`on`) or lost its last local subscriber on a channel.
    Interest { key: ChannelKey, on: bool },
    /// A user's first socket on this node joined a presence channel.
    PresenceJoin { key: ChannelKey, member: Member },
    /// A user's last socket on this node left a presence channel.
    PresenceLeave { key: ChannelKey, user: Arc<str> },
    /// This node's subscriber count of a channel changed (apps with subscription counting only).
    Count { key: ChannelKey, count: usize },
    /// Answer once every earlier event has reached the bus (the cluster layer confirms with a round trip).
    Flush(tokio::sync::oneshot::Sender<()>),
    /// A user's first connection on this node signed in.
    UserOnline { app: Arc<str>, user: Arc<str> },
    /// A user's last signed-in connection on this node went.
    UserOffline { app: Arc<str>, user: Arc<str> },
}

/// Connections per app or per tenant id.
pub type CountsById = Vec<(Arc<str>, usize)>;

/// The receiving end of a hub's events: the cluster layer applies them in order.
pub type HubEvents = mpsc::UnboundedReceiver<HubEvent>;

/// Connection limits to check on admission; 0 means unlimited.
pub struct Limits {
    pub node: usize,
    /// Connections from one client address on this node.
    pub address: usize,
    pub app: usize,
    pub tenant: usize,
    /// Connections of the app and of the tenant on other nodes (as last reported).
    pub elsewhere: (usize, usize),
}

impl Hub {
    /// A hub whose webhook-worthy events go to `observers` and whose interest and presence
    /// changes go to `events` (the cluster layer's receiver; `None` on a single node).
    pub fn new(
        apps: Arc<AppDirectory>,
        observers: Arc<Observers>,
        events: Option<mpsc::UnboundedSender<HubEvent>>,
    ) -> Self {
        Hub {
            channels: ChannelRegistry::new(observers.clone()),
            observers,
            users: UserRegistry::default(),
            cache: ChannelCache::default(),
            counts: CountThrottle::default(),
            live: DashMap::new(),
            per_app: DashMap::new(),
            per_tenant: DashMap::new(),
            per_address: DashMap::new(),
            total: AtomicUsize::new(0),
            ended_traffic: Default::default(),
            delivered: PerAppCounter::default(),
            events,
            remote_counts: DashMap::new(),
            apps,
        }
    }

    /// Subscribes `conn`: queues `subscription_succeeded` (with the position its stream starts after),
    /// the cached event or `pusher:cache_miss` on cache channels, the messages `start` replays, then a
    /// subscription-count notice. Call it in the channel's delivery order (from `Bus::attach`).
    pub fn subscribe(
        self: &Arc<Self>,
        conn: &Arc<Connection>,
        app: &App,
        channel: &ChannelName,
        member: Option<&Member>,
        start: StreamStart,
    ) -> Result<Joined, JoinError> {
        let key = ChannelKey::of(&conn.app_id, channel);
        let cached = channel.is_cache().then(|| self.cache.get(&key));
        let missed = matches!(cached, Some(None));
        let greeting = |presence: Option<&Value>| {
            let data = presence.cloned().unwrap_or_else(|| Value::Object(Default::default()));
            let succeeded = frame::subscription_succeeded(channel.as_str(), &data, start.position, start.recovered);
            let mut frames = vec![Frame::from(succeeded)];
            match cached {
                Some(Some(hit)) => frames.push(hit.frame),
                Some(None) => frames.push(Frame::from(frame::cache_miss(channel.as_str()))),
                None => {}
            }
            let missed = start
                .replay
                .iter()
                .filter(|m| m.exclude.as_ref() != Some(&conn.socket_id));
            frames.extend(missed.map(|m| frame_of(m)));
            frames
        };
        let max_members = app.settings.max_presence_members as usize;
        let joined = self.channels.subscribe(conn, channel, member, max_members, greeting)?;
        if missed {
            let event = WebhookEvent::CacheMiss {
                channel: key.channel.clone(),
            };
            self.observers.local(Observation::new(key.app.clone(), event));
        }
        if joined.first {
            self.emit(HubEvent::Interest {
                key: key.clone(),
                on: true,
            });
        }
        if let Some(member) = &joined.first_here {
            self.emit(HubEvent::PresenceJoin {
                key: key.clone(),
                member: member.clone(),
            });
        }
        self.local_count_changed(app, &key, joined.subscribers);
        Ok(joined)
    }

    /// Unsubscribes `conn` from `channel`.
    pub fn unsubscribe(self: &Arc<Self>, conn: &Connection, channel: &ChannelName) -> Option<Left> {
        let left = self.channels.unsubscribe(&conn.app_id, channel, &conn.socket_id)?;
        let key = ChannelKey::of(&conn.app_id, channel);
        if let Some(user) = &left.last_here {
            self.emit(HubEvent::PresenceLeave {
                key: key.clone(),
                user: user.clone(),
            });
        }
        if left.subscribers == 0 {
            self.emit(HubEvent::Interest {
                key: key.clone(),
                on: false,
            });
            self.counts.forget(&key);
        }
        if let Some(app) = self.apps.by_id(&conn.app_id) {
            self.local_count_changed(&app, &key, left.subscribers);
        }
        Some(left)
    }

    /// Completes once every event emitted so far has reached the bus; at once on a single node.
    pub async fn flush_events(&self) {
        let Some(tx) = &self.events else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if tx.send(HubEvent::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        }
    }

    fn emit(&self, event: HubEvent) {
        if let Some(tx) = &self.events {
            let _ = tx.send(event);
        }
    }

    /// Signs `conn` in (see `UserRegistry::sign_in`), telling other nodes when the user is new here.
    pub fn sign_in(&self, conn: &Arc<Connection>, user_id: &Arc<str>, watchlist: &[Arc<str>]) {
        if self.users.sign_in(conn, user_id, watchlist) {
            self.emit(HubEvent::UserOnline {
                app: conn.app_id.clone(),
                user: user_id.clone(),
            });
        }
    }

    /// Signs `conn` out, telling other nodes when it was the user's last connection here.
    pub fn sign_out(&self, conn: &Connection, user_id: &Arc<str>, watchlist: &[Arc<str>]) {
        if self.users.sign_out(conn, user_id, watchlist) {
            self.emit(HubEvent::UserOffline {
                app: conn.app_id.clone(),
                user: user_id.clone(),
            });
        }
    }

    /// Every live connection of this node signed in as `user_id`, closed with 4009.
    pub fn terminate_user(&self, app_id: &Arc<str>, user_id: &str) -> usize {
        self.users.terminate(app_id, user_id)
    }

    /// Keeps an HTTP API message on a cache channel as that channel's last event.
    pub fn remember(&self, message: &ChannelMessage, frame: &Frame) {
        if message.origin != Origin::Api || !message.channel.is_cache() {
            return;
        }
        let ttl = self
            .apps
            .by_id(&message.app_id)
            .map(|a| a.settings.cache_ttl)
            .unwrap_or(1800);
        let key = ChannelKey::of(&message.app_id, &message.channel);
        self.cache.store(
            key,
            frame.clone(),
            &message.event,
            message.data.as_text(),
            Duration::from_secs(ttl as u64),
        );
    }

    /// Connections on this node per app and per tenant (other nodes count them toward quotas).
    pub fn connection_counts(&self) -> (CountsById, CountsById) {
        let collect = |m: &DashMap<Arc<str>, usize>| {
            m.iter()
                .filter(|e| *e.value() > 0)
                .map(|e| (e.key().clone(), *e.value()))
                .collect()
        };
        (collect(&self.per_app), collect(&self.per_tenant))
    }

    /// The cached event of a cache channel.
    pub fn cached(&self, key: &ChannelKey) -> Option<CachedEvent> {
        self.cache.get(key)
    }

    /// Drops expired cache entries.
    pub fn sweep(&self) {
        self.cache.sweep();
    }
}

/// The frame of a channel message, encoded once.
pub fn frame_of(message: &ChannelMessage) -> Frame {
    let data = message.data.as_event_data();
    Frame::from(frame::channel_event(
        &message.event,
        message.channel.as_str(),
        data,
        message.user_id.as_deref(),
        message.position(),
    ))
}

impl Deliver for Hub {
    /// Encodes the message once and queues it for every local subscriber.
    fn deliver(&self, message: &ChannelMessage) {
        let frame = frame_of(message);
        self.remember(message, &frame);
        let sent = self
            .channels
            .fan_out(&message.app_id, &message.channel, &frame, message.exclude.as_ref());
        self.delivered.add(&message.app_id, sent as u64);
    }
}
