//! Channel registry: which local connections are subscribed to which channel of which app.
//!
//! Owns subscription and presence state on this node only. It never talks to the bus or the store.
//! Subscribing and removing an emptied channel both happen under the map's shard lock, so a
//! subscriber can never join a channel entry that is being removed.

use std::collections::HashMap;
use std::sync::Arc;

use super::connection::Frame;
use dashmap::DashMap;
use parking_lot::RwLock;
use serde_json::Value;

use super::connection::Connection;
use super::presence::{Member, PresenceMembers};
use crate::protocol::{frame, ChannelName, SocketId};

/// A channel of an app.
pub type ChannelKey = (Arc<str>, ChannelName);

#[derive(Default)]
struct ChannelState {
    subscribers: HashMap<SocketId, Arc<Connection>>,
    members: PresenceMembers,
}

/// What a successful subscription changed.
pub struct Joined {
    pub subscribers: usize,
    /// The channel had no subscriber on this node before.
    pub first: bool,
    /// A user joined a presence channel for the first time (`member_added` was sent to the others).
    pub member_added: bool,
}

/// What an unsubscription changed.
pub struct Left {
    pub subscribers: usize,
    /// The user whose last socket left a presence channel (`member_removed` was sent to the others).
    pub member_removed: Option<Arc<str>>,
}

/// Why a subscription was refused.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("Presence channel is full: it has the maximum of {0} members")]
    MembersFull(usize),
}

/// The occupied channels of this node.
#[derive(Default)]
pub struct ChannelRegistry {
    channels: DashMap<ChannelKey, Arc<RwLock<ChannelState>>>,
}

impl ChannelRegistry {
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
        let key = (conn.app_id.clone(), channel.clone());
        let entry = self.channels.entry(key).or_default();
        let mut state = entry.value().write();
        let first = state.subscribers.is_empty();
        let mut member_added = false;
        if let Some(m) = member {
            if !state.members.contains(&m.user_id) && state.members.count() >= max_members {
                return Err(JoinError::MembersFull(max_members));
            }
            member_added = state.members.join(&conn.socket_id, m);
            if member_added {
                let added = Frame::from(frame::member_added(channel.as_str(), &m.user_id, &m.user_info));
                for (id, other) in &state.subscribers {
                    if *id != conn.socket_id {
                        other.send(added.clone());
                    }
                }
            }
        }
        let presence = member.map(|_| state.members.snapshot());
        for frame in greeting(presence.as_ref()) {
            conn.send(frame);
        }
        state.subscribers.insert(conn.socket_id.clone(), conn.clone());
        Ok(Joined {
            subscribers: state.subscribers.len(),
            first,
            member_added,
        })
    }

    /// Removes `socket` from the channel; `None` when it was not subscribed.
    pub fn unsubscribe(&self, app_id: &Arc<str>, channel: &ChannelName, socket: &SocketId) -> Option<Left> {
        let key = (app_id.clone(), channel.clone());
        let left = {
            let entry = self.channels.get(&key)?;
            let mut state = entry.value().write();
            state.subscribers.remove(socket)?;
            let member_removed = state.members.leave(socket);
            if let Some(user) = &member_removed {
                let removed = Frame::from(frame::member_removed(channel.as_str(), user));
                for other in state.subscribers.values() {
                    other.send(removed.clone());
                }
            }
            Left {
                subscribers: state.subscribers.len(),
                member_removed,
            }
        };
        if left.subscribers == 0 {
            self.channels.remove_if(&key, |_, st| st.read().subscribers.is_empty());
        }
        Some(left)
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
            .get(&(app_id.clone(), channel.clone()))
            .map(|e| e.value().clone())
        else {
            return 0;
        };
        let state = state.read();
        let mut sent = 0;
        for (id, conn) in &state.subscribers {
            if Some(id) != exclude && conn.send(frame.clone()) {
                sent += 1;
            }
        }
        sent
    }

    pub fn subscriber_count(&self, app_id: &Arc<str>, channel: &ChannelName) -> usize {
        self.with_state(app_id, channel, |s| s.subscribers.len()).unwrap_or(0)
    }

    /// The user ids of a presence channel, in join order.
    pub fn member_ids(&self, app_id: &Arc<str>, channel: &ChannelName) -> Vec<String> {
        self.with_state(app_id, channel, |s| s.members.ids().map(|u| u.to_string()).collect())
            .unwrap_or_default()
    }

    pub fn member_count(&self, app_id: &Arc<str>, channel: &ChannelName) -> usize {
        self.with_state(app_id, channel, |s| s.members.count()).unwrap_or(0)
    }

    /// Every occupied channel of an app with its subscriber and member counts.
    pub fn channels_of(&self, app_id: &str) -> Vec<(ChannelName, usize, usize)> {
        self.channels
            .iter()
            .filter(|e| &*e.key().0 == app_id)
            .map(|e| {
                let s = e.value().read();
                (e.key().1.clone(), s.subscribers.len(), s.members.count())
            })
            .filter(|(_, subs, _)| *subs > 0)
            .collect()
    }

    fn with_state<T>(&self, app_id: &Arc<str>, channel: &ChannelName, f: impl FnOnce(&ChannelState) -> T) -> Option<T> {
        let entry = self.channels.get(&(app_id.clone(), channel.clone()))?;
        let state = entry.value().read();
        Some(f(&state))
    }
}
