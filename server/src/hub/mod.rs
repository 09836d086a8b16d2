//! The hub: this node's live connections, channels, presence members, signed-in users and cache
//! channels, and the fan-out of messages to local subscribers.
//!
//! Owns node-local state only. Messages arrive through `Deliver` (from the bus); the hub never
//! stores history or talks to other nodes. Frames are encoded once per message and shared.

mod cache;
mod connection;
mod observers;
mod presence;
mod registry;
mod subscription_count;
mod users;

pub use cache::CachedEvent;
pub use connection::{CloseReason, Connection, ConnectionMeta, Frame, Membership};
pub use observers::{Decides, Observers};
pub use presence::Member;
pub use registry::{ChannelKey, ChannelRegistry, JoinError, Joined, Left};
pub use users::UserRegistry;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::apps::{AppDirectory, Revoked};
use crate::bus::Deliver;
use crate::history::StreamStart;
use crate::message::{ChannelMessage, Origin};
use crate::per_app::PerAppCounter;
use crate::protocol::{frame, ChannelKind, ChannelName, CloseCode, SocketId};
use crate::store::App;
use crate::webhooks::Observation;
use cache::ChannelCache;
use subscription_count::{CountThrottle, Notice};

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
    total: AtomicUsize,
    /// Other nodes' subscriber counts of channels with subscription counting, by node.
    remote_counts: DashMap<ChannelKey, HashMap<Arc<str>, usize>>,
    /// Where hub events go in cluster mode.
    events: OnceLock<mpsc::UnboundedSender<HubEvent>>,
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

/// Connection limits to check on admission; 0 means unlimited.
pub struct Limits {
    pub node: usize,
    pub app: usize,
    pub tenant: usize,
    /// Connections of the app and of the tenant on other nodes (as last reported).
    pub elsewhere: (usize, usize),
}

impl Hub {
    pub fn new(apps: Arc<AppDirectory>) -> Self {
        let observers = Arc::new(Observers::default());
        Hub {
            channels: ChannelRegistry::new(observers.clone()),
            observers,
            users: UserRegistry::default(),
            cache: ChannelCache::default(),
            counts: CountThrottle::default(),
            live: DashMap::new(),
            per_app: DashMap::new(),
            per_tenant: DashMap::new(),
            total: AtomicUsize::new(0),
            delivered: PerAppCounter::default(),
            events: OnceLock::new(),
            remote_counts: DashMap::new(),
            apps,
        }
    }

    /// Counts a new connection against the node's, the app's and the tenant's limits.
    pub fn admit(&self, conn: &Arc<Connection>, limits: Limits) -> Result<(), CloseCode> {
        if limits.node > 0 && self.total.load(Ordering::Relaxed) >= limits.node {
            return Err(CloseCode::OverCapacity);
        }
        // Lock order: tenant, then app. Both counts move together or not at all.
        let mut tenant = self.per_tenant.entry(conn.tenant_id.clone()).or_insert(0);
        let mut app = self.per_app.entry(conn.app_id.clone()).or_insert(0);
        let (app_elsewhere, tenant_elsewhere) = limits.elsewhere;
        if (limits.app > 0 && *app + app_elsewhere >= limits.app)
            || (limits.tenant > 0 && *tenant + tenant_elsewhere >= limits.tenant)
        {
            return Err(CloseCode::AppOverQuota);
        }
        *app += 1;
        *tenant += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        self.live.insert(conn.socket_id.clone(), conn.clone());
        Ok(())
    }

    /// Releases what `admit` counted.
    pub fn release(&self, conn: &Connection) {
        if self.live.remove(&conn.socket_id).is_none() {
            return;
        }
        for (map, key) in [(&self.per_tenant, &conn.tenant_id), (&self.per_app, &conn.app_id)] {
            if let Some(mut count) = map.get_mut(key) {
                *count = count.saturating_sub(1);
            }
        }
        self.total.fetch_sub(1, Ordering::Relaxed);
    }

    /// Closes the connections of revoked keys (4001) and disabled apps (4003).
    pub fn close_revoked(&self, revoked: &Revoked) {
        for conn in self.live.iter() {
            if revoked.keys.iter().any(|k| **k == *conn.key) {
                conn.close(CloseCode::UnknownApp, "The app key was revoked");
            } else if revoked.apps.iter().any(|a| **a == *conn.app_id) {
                conn.close(CloseCode::AppDisabled, CloseCode::AppDisabled.message());
            }
        }
    }

    /// This node's live connections of an app.
    pub fn connections_of(&self, app_id: &str) -> Vec<Arc<Connection>> {
        self.live
            .iter()
            .filter(|c| &*c.app_id == app_id)
            .map(|c| c.value().clone())
            .collect()
    }

    /// Closes one connection of an app on this node; false when this node does not hold it.
    pub fn disconnect(&self, app_id: &str, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        let Some(socket) = SocketId::parse(socket_id) else {
            return false;
        };
        match self.live.get(&socket).filter(|c| &*c.app_id == app_id) {
            Some(conn) => {
                conn.close_because(code, reason, Some("admin"));
                true
            }
            None => false,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn app_connection_count(&self, app_id: &str) -> usize {
        self.per_app.get(app_id).map(|c| *c).unwrap_or(0)
    }

    /// Frames delivered to this node's subscribers of an app since the node started.
    pub fn delivered(&self, app_id: &str) -> u64 {
        self.delivered.get(app_id)
    }

    pub fn tenant_connection_count(&self, tenant_id: &str) -> usize {
        self.per_tenant.get(tenant_id).map(|c| *c).unwrap_or(0)
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
        let key: ChannelKey = (conn.app_id.clone(), channel.clone());
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
            self.observers.local(Observation::CacheMiss {
                app_id: key.0.clone(),
                channel: key.1.clone(),
            });
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
        let key: ChannelKey = (conn.app_id.clone(), channel.clone());
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

    /// Sends hub events to `tx` (the cluster layer) from now on.
    pub fn attach(&self, tx: mpsc::UnboundedSender<HubEvent>) {
        let _ = self.events.set(tx);
    }

    /// Completes once every event emitted so far has reached the bus; at once on a single node.
    pub async fn flush_events(&self) {
        let Some(tx) = self.events.get() else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if tx.send(HubEvent::Flush(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(2), wait).await;
        }
    }

    fn emit(&self, event: HubEvent) {
        if let Some(tx) = self.events.get() {
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
        let key = (message.app_id.clone(), message.channel.clone());
        self.cache.store(
            key,
            frame.clone(),
            &message.event,
            message.data.as_text(),
            Duration::from_secs(ttl as u64),
        );
    }

    /// Connections on this node per app and per tenant (other nodes count them toward quotas).
    pub fn connection_counts(&self) -> (Vec<(Arc<str>, usize)>, Vec<(Arc<str>, usize)>) {
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

    /// This node's subscriber count of a channel changed: tell other nodes, and the subscribers.
    fn local_count_changed(self: &Arc<Self>, app: &App, key: &ChannelKey, local: usize) {
        if key.1.kind() == ChannelKind::ServerToUser {
            return;
        }
        let counted = app.settings.subscription_count;
        // Other nodes need the count for subscription counts and to decide occupancy webhooks.
        if counted || !app.settings.webhooks.is_empty() {
            self.emit(HubEvent::Count {
                key: key.clone(),
                count: local,
            });
        }
        self.observers.subscribers(key, self.total_subscribers(key), counted);
        if counted && local > 0 {
            self.count_changed(key);
        }
    }

    /// Another node reports its subscriber count of a channel (0 when it has none left).
    pub fn remote_count(self: &Arc<Self>, node: &Arc<str>, key: ChannelKey, count: usize) {
        match count {
            0 => {
                if let Some(mut nodes) = self.remote_counts.get_mut(&key) {
                    nodes.remove(node);
                }
                self.remote_counts.remove_if(&key, |_, nodes| nodes.is_empty());
            }
            n => {
                self.remote_counts
                    .entry(key.clone())
                    .or_default()
                    .insert(node.clone(), n);
            }
        }
        let enabled = self.apps.by_id(&key.0).is_some_and(|a| a.settings.subscription_count);
        self.observers.subscribers(&key, self.total_subscribers(&key), enabled);
        if enabled && self.channels.subscriber_count(&key.0, &key.1) > 0 {
            self.count_changed(&key);
        }
    }

    /// Forgets the subscriber counts a dead node reported.
    pub fn forget_node_counts(&self, node: &Arc<str>) {
        let mut changed = Vec::new();
        self.remote_counts.iter_mut().for_each(|mut nodes| {
            if nodes.remove(node).is_some() {
                changed.push(nodes.key().clone());
            }
        });
        self.remote_counts.retain(|_, nodes| !nodes.is_empty());
        for key in changed {
            let counted = self.apps.by_id(&key.0).is_some_and(|a| a.settings.subscription_count);
            self.observers.subscribers(&key, self.total_subscribers(&key), counted);
        }
    }

    /// Subscribers of a channel on this node and, as last reported, on the others.
    fn total_subscribers(&self, key: &ChannelKey) -> usize {
        let remote: usize = self.remote_counts.get(key).map(|n| n.values().sum()).unwrap_or(0);
        self.channels.subscriber_count(&key.0, &key.1) + remote
    }

    /// Sends the subscribers the cluster-wide count now or, above 100 subscribers, at most every 30 s.
    fn count_changed(self: &Arc<Self>, key: &ChannelKey) {
        match self.counts.on_change(key, self.total_subscribers(key), Instant::now()) {
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
        let count = self.total_subscribers(key);
        if count > 0 {
            let notice = Frame::from(frame::subscription_count(key.1.as_str(), count));
            self.channels.fan_out(&key.0, &key.1, &notice, None);
        }
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
