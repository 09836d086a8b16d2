//! User registry: which connections are signed in as which user, and who watches whom.
//!
//! A user is online while at least one connection is signed in as them, on this node or (as other
//! nodes report) anywhere in the cluster. Watchers are told `online` on the first signin anywhere
//! and `offline` after the last connection anywhere goes, through `pusher_internal:watchlist_events`.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use dashmap::DashMap;

use super::connection::Connection;
use super::wire::Frame;
use crate::protocol::{frame, CloseCode, SocketId};

type UserKey = (Arc<str>, Arc<str>);

/// Signed-in users and watchlists of this node.
#[derive(Default)]
pub struct UserRegistry {
    signed_in: DashMap<UserKey, HashMap<SocketId, Arc<Connection>>>,
    watchers: DashMap<UserKey, HashMap<SocketId, Arc<Connection>>>,
    /// Other nodes where a user is signed in.
    remote: DashMap<UserKey, BTreeSet<Arc<str>>>,
}

impl UserRegistry {
    /// Signs `conn` in as `user_id` watching `watchlist`; tells watchers when the user comes online and
    /// sends `conn` the current status of every watched user. True when this is the user's first
    /// connection on this node (other nodes must hear of it).
    pub fn sign_in(&self, conn: &Arc<Connection>, user_id: &Arc<str>, watchlist: &[Arc<str>]) -> bool {
        let key = (conn.app_id.clone(), user_id.clone());
        let came_online = {
            let mut conns = self.signed_in.entry(key.clone()).or_default();
            let was_empty = conns.is_empty();
            conns.insert(conn.socket_id.clone(), conn.clone());
            was_empty
        };
        if came_online && !self.online_elsewhere(&key) {
            self.tell_watchers(&key, "online");
        }
        if watchlist.is_empty() {
            return came_online;
        }
        let (mut online, mut offline) = (Vec::new(), Vec::new());
        for watched in watchlist {
            let wkey = (conn.app_id.clone(), watched.clone());
            self.watchers
                .entry(wkey.clone())
                .or_default()
                .insert(conn.socket_id.clone(), conn.clone());
            if self.is_online(&conn.app_id, watched) {
                online.push(watched.as_ref());
            } else {
                offline.push(watched.as_ref());
            }
        }
        conn.send(&Frame::from(frame::watchlist_events(&[
            ("online", &online),
            ("offline", &offline),
        ])));
        came_online
    }

    /// Forgets `conn` (signed in as `user_id`, watching `watchlist`); tells watchers when the user goes offline.
    /// True when this was the user's last connection on this node (other nodes must hear of it).
    pub fn sign_out(&self, conn: &Connection, user_id: &Arc<str>, watchlist: &[Arc<str>]) -> bool {
        let key = (conn.app_id.clone(), user_id.clone());
        let went_offline = match self.signed_in.get_mut(&key) {
            Some(mut conns) => conns.remove(&conn.socket_id).is_some() && conns.is_empty(),
            None => false,
        };
        if went_offline {
            self.signed_in.remove_if(&key, |_, c| c.is_empty());
            if !self.online_elsewhere(&key) {
                self.tell_watchers(&key, "offline");
            }
        }
        for watched in watchlist {
            let wkey = (conn.app_id.clone(), watched.clone());
            if let Some(mut w) = self.watchers.get_mut(&wkey) {
                w.remove(&conn.socket_id);
            }
            self.watchers.remove_if(&wkey, |_, w| w.is_empty());
        }
        went_offline
    }

    fn online_here(&self, key: &UserKey) -> bool {
        self.signed_in.get(key).is_some_and(|c| !c.is_empty())
    }

    fn online_elsewhere(&self, key: &UserKey) -> bool {
        self.remote.get(key).is_some_and(|n| !n.is_empty())
    }

    /// `node` reports `user` signed in there.
    pub fn remote_online(&self, node: &Arc<str>, app_id: &Arc<str>, user: &Arc<str>) {
        let key = (app_id.clone(), user.clone());
        let was_online = self.online_here(&key) || self.online_elsewhere(&key);
        self.remote.entry(key.clone()).or_default().insert(node.clone());
        if !was_online {
            self.tell_watchers(&key, "online");
        }
    }

    /// `node` reports `user`'s last connection there gone.
    pub fn remote_offline(&self, node: &Arc<str>, app_id: &Arc<str>, user: &Arc<str>) {
        let key = (app_id.clone(), user.clone());
        let removed = self.remote.get_mut(&key).is_some_and(|mut n| n.remove(node));
        self.remote.remove_if(&key, |_, n| n.is_empty());
        if removed && !self.online_here(&key) && !self.online_elsewhere(&key) {
            self.tell_watchers(&key, "offline");
        }
    }

    /// Replaces what `node` reported with `users` (its full list; empty when it died).
    pub fn replace_node(&self, node: &Arc<str>, users: &[(Arc<str>, Arc<str>)]) {
        let stale: Vec<UserKey> = self
            .remote
            .iter()
            .filter(|e| e.value().contains(node))
            .map(|e| e.key().clone())
            .collect();
        for (app, user) in stale.iter().filter(|k| !users.contains(k)) {
            self.remote_offline(node, app, user);
        }
        for (app, user) in users {
            self.remote_online(node, app, user);
        }
    }

    /// Users signed in on this node, for other nodes to (re)learn.
    pub fn local_users(&self) -> Vec<(Arc<str>, Arc<str>)> {
        self.signed_in
            .iter()
            .filter(|e| !e.value().is_empty())
            .map(|e| e.key().clone())
            .collect()
    }

    /// Closes every connection signed in as `user_id` with 4009; returns how many.
    pub fn terminate(&self, app_id: &Arc<str>, user_id: &str) -> usize {
        let key = (app_id.clone(), Arc::<str>::from(user_id));
        let conns: Vec<Arc<Connection>> = match self.signed_in.get(&key) {
            Some(c) => c.values().cloned().collect(),
            None => return 0,
        };
        for conn in &conns {
            conn.close(CloseCode::Unauthorized, "You got disconnected by the app.");
        }
        conns.len()
    }

    /// True when `user_id` is signed in on at least one connection anywhere.
    pub fn is_online(&self, app_id: &Arc<str>, user_id: &str) -> bool {
        let key = (app_id.clone(), Arc::from(user_id));
        self.online_here(&key) || self.online_elsewhere(&key)
    }

    fn tell_watchers(&self, key: &UserKey, status: &str) {
        let Some(watchers) = self.watchers.get(key) else {
            return;
        };
        let event = Frame::from(frame::watchlist_events(&[(status, &[key.1.as_ref()])]));
        for w in watchers.values() {
            w.send(&event);
        }
    }
}
