//! Channel registry: which local connections are subscribed to which channel of which app, and the
//! cluster-wide presence members of presence channels.
//!
//! Owns subscription and presence state on this node only; it never talks to the bus or the store.
//! Presence reported by other nodes arrives through `remote_join`/`remote_leave`/`forget_node`, so a
//! presence channel's entry stays while any node has members on it. Subscribing and removing an
//! emptied channel both happen under the map's shard lock, so a subscriber can never join a channel
//! entry that is being removed.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;
use parking_lot::RwLock;
use serde_json::Value;

use super::connection::Connection;
use super::observers::Observers;
use super::presence::{Member, PresenceMembers};
use super::wire::Frame;
use crate::channel_key::ChannelKey;
use crate::protocol::{frame, ChannelName, CloseCode, SocketId};

/// A channel of an app.

#[derive(Default)]
struct ChannelState {
    subscribers: HashMap<SocketId, Arc<Connection>>,
    members: PresenceMembers,
}

impl ChannelState {
    fn is_empty(&self) -> bool {
        self.subscribers.is_empty() && self.members.count() == 0
    }

    fn broadcast(&self, frame: &Frame, except: Option<&SocketId>) {
        for (id, conn) in &self.subscribers {
            if Some(id) != except {
                conn.send(frame);
            }
        }
    }
}

/// What a successful subscription changed.
pub struct Joined {
    pub subscribers: usize,
    /// The channel had no subscriber on this node before.
    pub first: bool,
    /// The member whose first socket on this node joined (other nodes must hear of it).
    pub first_here: Option<Member>,
}

/// What an unsubscription changed.
pub struct Left {
    pub subscribers: usize,
    /// The user whose last socket on this node left (other nodes must hear of it).
    pub last_here: Option<Arc<str>>,
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("Presence channel is full: it has the maximum of {0} members")]
    MembersFull(usize),
}

/// The occupied channels of this node.
pub struct ChannelRegistry {
    channels: DashMap<ChannelKey, Arc<RwLock<ChannelState>>>,
    /// Told of every presence member added or removed (webhooks).
    observers: Arc<Observers>,
}

/// The key of `channel` in `conn`'s app.
fn key_of(conn: &Connection, channel: &ChannelName) -> ChannelKey {
    ChannelKey::of(&conn.app_id, channel)
}

impl ChannelRegistry {
    pub fn new(observers: Arc<Observers>) -> Self {
        ChannelRegistry {
            channels: DashMap::new(),
            observers,
        }
    }

    /// Subscribes `conn`, joining `member` on presence channels. Subscribing twice is harmless.
    /// `greeting` gives the frames `conn` gets first (`subscription_succeeded`, a cached event); they
    /// are queued under the channel lock, so no channel event can overtake them.
    pub fn subscribe(
        &self,
        conn: &Arc<Connection>,
        channel: &ChannelName,
        member: Option<&Member>,
        max_members: usize,
        greeting: impl FnOnce(Option<&Value>) -> Vec<Frame>,
    ) -> Result<Joined, JoinError> {
        let key = ChannelKey::of(&conn.app_id, channel);
        let entry = self.channels.entry(key).or_default();
        let mut state = entry.value().write();
        let first = state.subscribers.is_empty();
        let mut first_here = None;
        if let Some(m) = member {
            if !state.members.contains(&m.user_id) && state.members.count() >= max_members {
                return Err(JoinError::MembersFull(max_members));
            }
            let joined = state.members.join(&conn.socket_id, m);
            if joined.added {
                let added = Frame::from(frame::member_added(channel.as_str(), &m.user_id, &m.user_info));
                state.broadcast(&added, Some(&conn.socket_id));
                self.observers.member(&key_of(conn, channel), &m.user_id, true);
            }
            first_here = joined.first_here.then(|| m.clone());
        }
        let presence = member.map(|_| state.members.snapshot());
        for frame in greeting(presence.as_ref()) {
            conn.send_start(&frame);
        }
        state.subscribers.insert(conn.socket_id.clone(), conn.clone());
        Ok(Joined {
            subscribers: state.subscribers.len(),
            first,
            first_here,
        })
    }

    /// Removes `socket` from the channel; `None` when it was not subscribed.
    pub fn unsubscribe(&self, app_id: &Arc<str>, channel: &ChannelName, socket: &SocketId) -> Option<Left> {
        let key = ChannelKey::of(app_id, channel);
        let left = {
            let entry = self.channels.get(&key)?;
            let mut state = entry.value().write();
            state.subscribers.remove(socket)?;
            let leave = state.members.leave(socket);
            if let (true, Some(user)) = (leave.removed, &leave.last_here) {
                state.broadcast(&Frame::from(frame::member_removed(channel.as_str(), user)), None);
                self.observers.member(&key, user, false);
            }
            Left {
                subscribers: state.subscribers.len(),
                last_here: leave.last_here,
            }
        };
        self.remove_if_empty(&key);
        Some(left)
    }

    /// Another node reports `member` on `channel`; local subscribers hear `member_added` when due.
    pub fn remote_join(&self, key: &ChannelKey, node: &Arc<str>, member: &Member) {
        let entry = self.channels.entry(key.clone()).or_default();
        let mut state = entry.value().write();
        if state.members.remote_join(node, member) {
            state.broadcast(
                &Frame::from(frame::member_added(
                    key.channel.as_str(),
                    &member.user_id,
                    &member.user_info,
                )),
                None,
            );
            self.observers.member(key, &member.user_id, true);
        }
    }

    /// Another node reports `user` gone from `channel`.
    pub fn remote_leave(&self, key: &ChannelKey, node: &Arc<str>, user: &Arc<str>) {
        if let Some(entry) = self.channels.get(key) {
            let mut state = entry.value().write();
            if state.members.remote_leave(node, user) {
                state.broadcast(&Frame::from(frame::member_removed(key.channel.as_str(), user)), None);
                self.observers.member(key, user, false);
            }
        }
        self.remove_if_empty(key);
    }

    /// Forgets every member `node` reported (it died, or it is about to resend them all).
    pub fn forget_node(&self, node: &Arc<str>) {
        let keys: Vec<ChannelKey> = self.channels.iter().map(|e| e.key().clone()).collect();
        for key in keys {
            if let Some(entry) = self.channels.get(&key) {
                let mut state = entry.value().write();
                for user in state.members.forget_node(node) {
                    state.broadcast(&Frame::from(frame::member_removed(key.channel.as_str(), &user)), None);
                    self.observers.member(&key, &user, false);
                }
            }
            self.remove_if_empty(&key);
        }
    }

    /// Replaces what `node` reported with `memberships` (its full state), sending only the
    /// `member_added`/`member_removed` that the difference calls for.
    pub fn replace_node(&self, node: &Arc<str>, memberships: Vec<(ChannelKey, Vec<Member>)>) {
        let wanted: HashMap<ChannelKey, Vec<Member>> = memberships.into_iter().collect();
        let keys: Vec<ChannelKey> = self.channels.iter().map(|e| e.key().clone()).collect();
        for key in keys {
            let stale: Vec<Arc<str>> = match self.channels.get(&key) {
                Some(entry) => entry.value().read().members.users_on(node),
                None => continue,
            };
            let keep = wanted.get(&key);
            for user in stale {
                if !keep.is_some_and(|ms| ms.iter().any(|m| m.user_id == user)) {
                    self.remote_leave(&key, node, &user);
                }
            }
        }
        for (key, members) in wanted {
            for member in members {
                self.remote_join(&key, node, &member);
            }
        }
    }

    /// Every presence membership held by sockets of this node, for other nodes to (re)learn.
    pub fn local_presence(&self) -> Vec<(ChannelKey, Vec<Member>)> {
        self.channels
            .iter()
            .filter_map(|e| {
                let members = e.value().read().members.local_members();
                (!members.is_empty()).then(|| (e.key().clone(), members))
            })
            .collect()
    }

    /// Every channel with subscribers on this node, with their number, for other nodes to (re)learn.
    pub fn local_subscriber_counts(&self) -> Vec<(ChannelKey, usize)> {
        self.channels
            .iter()
            .map(|e| (e.key().clone(), e.value().read().subscribers.len()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn remove_if_empty(&self, key: &ChannelKey) {
        self.channels.remove_if(key, |_, st| st.read().is_empty());
    }

    /// Queues `frame` for every subscriber but `exclude`. Hot path: one shared `Frame`, no encode here.
    pub fn fan_out(
        &self,
        app_id: &Arc<str>,
        channel: &ChannelName,
        frame: &Frame,
        exclude: Option<&SocketId>,
    ) -> usize {
        let Some(state) = self
            .channels
            .get(&ChannelKey::of(app_id, channel))
            .map(|e| e.value().clone())
        else {
            return 0;
        };
        let state = state.read();
        let mut sent = 0;
        for (id, conn) in &state.subscribers {
            if Some(id) != exclude && conn.send(frame) {
                sent += 1;
            }
        }
        sent
    }

    /// Closes every local subscriber of a channel with `code` (they reconnect and resume).
    pub fn close_subscribers(&self, key: &ChannelKey, code: CloseCode, reason: &str) {
        let subscribers: Vec<Arc<Connection>> = self
            .with_state(&key.app, &key.channel, |s| s.subscribers.values().cloned().collect())
            .unwrap_or_default();
        for conn in subscribers {
            conn.close(code, reason);
        }
    }

    pub fn subscriber_count(&self, app_id: &Arc<str>, channel: &ChannelName) -> usize {
        self.with_state(app_id, channel, |s| s.subscribers.len()).unwrap_or(0)
    }

    /// The user ids of a presence channel, cluster-wide, in join order.
    pub fn member_ids(&self, app_id: &Arc<str>, channel: &ChannelName) -> Vec<String> {
        self.with_state(app_id, channel, |s| s.members.ids().map(|u| u.to_string()).collect())
            .unwrap_or_default()
    }

    /// The members of a presence channel (id and info), cluster-wide, in join order.
    pub fn members(&self, app_id: &Arc<str>, channel: &ChannelName) -> Vec<Member> {
        self.with_state(app_id, channel, |s| s.members.members())
            .unwrap_or_default()
    }

    pub fn member_count(&self, app_id: &Arc<str>, channel: &ChannelName) -> usize {
        self.with_state(app_id, channel, |s| s.members.count()).unwrap_or(0)
    }

    /// Every channel of an app with local subscribers, with the subscriber and member counts.
    pub fn channels_of(&self, app_id: &str) -> Vec<(ChannelName, usize, usize)> {
        self.channels
            .iter()
            .filter(|e| &*e.key().app == app_id)
            .map(|e| {
                let s = e.value().read();
                (e.key().channel.clone(), s.subscribers.len(), s.members.count())
            })
            .filter(|(_, subs, _)| *subs > 0)
            .collect()
    }

    /// Presence channels of an app with members anywhere in the cluster, with the member count.
    pub fn presence_channels_of(&self, app_id: &str) -> Vec<(ChannelName, usize)> {
        self.channels
            .iter()
            .filter(|e| &*e.key().app == app_id)
            .map(|e| (e.key().channel.clone(), e.value().read().members.count()))
            .filter(|(_, members)| *members > 0)
            .collect()
    }

    fn with_state<T>(&self, app_id: &Arc<str>, channel: &ChannelName, f: impl FnOnce(&ChannelState) -> T) -> Option<T> {
        let entry = self.channels.get(&ChannelKey::of(app_id, channel))?;
        let state = entry.value().read();
        Some(f(&state))
    }
}
