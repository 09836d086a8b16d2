//! User registry: which connections are signed in as which user, and who watches whom.
//!
//! A user is online while at least one connection is signed in as them. Watchers are told
//! `online` on the first signin and `offline` after the last connection goes, through
//! `pusher_internal:watchlist_events`.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;

use super::connection::{Connection, Frame};
use crate::protocol::{frame, CloseCode, SocketId};

type UserKey = (Arc<str>, Arc<str>);

/// Signed-in users and watchlists of this node.
#[derive(Default)]
pub struct UserRegistry {
    signed_in: DashMap<UserKey, HashMap<SocketId, Arc<Connection>>>,
    watchers: DashMap<UserKey, HashMap<SocketId, Arc<Connection>>>,
}

impl UserRegistry {
    /// Signs `conn` in as `user_id` watching `watchlist`; tells watchers when the user comes online and
    /// sends `conn` the current status of every watched user.
    pub fn sign_in(&self, conn: &Arc<Connection>, user_id: &Arc<str>, watchlist: &[Arc<str>]) {
        let key = (conn.app_id.clone(), user_id.clone());
        let came_online = {
            let mut conns = self.signed_in.entry(key.clone()).or_default();
            let was_empty = conns.is_empty();
            conns.insert(conn.socket_id.clone(), conn.clone());
            was_empty
        };
        if came_online {
            self.tell_watchers(&key, "online");
        }
        if watchlist.is_empty() {
            return;
        }
        let (mut online, mut offline) = (Vec::new(), Vec::new());
        for watched in watchlist {
            let wkey = (conn.app_id.clone(), watched.clone());
            self.watchers
                .entry(wkey.clone())
                .or_default()
                .insert(conn.socket_id.clone(), conn.clone());
            if self.signed_in.get(&wkey).is_some_and(|c| !c.is_empty()) {
                online.push(watched.as_ref());
            } else {
                offline.push(watched.as_ref());
            }
        }
        conn.send(Frame::from(frame::watchlist_events(&[
            ("online", &online),
            ("offline", &offline),
        ])));
    }

    /// Forgets `conn` (signed in as `user_id`, watching `watchlist`); tells watchers when the user goes offline.
    pub fn sign_out(&self, conn: &Connection, user_id: &Arc<str>, watchlist: &[Arc<str>]) {
        let key = (conn.app_id.clone(), user_id.clone());
        let went_offline = match self.signed_in.get_mut(&key) {
            Some(mut conns) => conns.remove(&conn.socket_id).is_some() && conns.is_empty(),
            None => false,
        };
        if went_offline {
            self.signed_in.remove_if(&key, |_, c| c.is_empty());
            self.tell_watchers(&key, "offline");
        }
        for watched in watchlist {
            let wkey = (conn.app_id.clone(), watched.clone());
            if let Some(mut w) = self.watchers.get_mut(&wkey) {
                w.remove(&conn.socket_id);
            }
            self.watchers.remove_if(&wkey, |_, w| w.is_empty());
        }
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

    /// True when `user_id` is signed in on at least one connection.
    pub fn is_online(&self, app_id: &Arc<str>, user_id: &str) -> bool {
        self.signed_in
            .get(&(app_id.clone(), Arc::from(user_id)))
            .is_some_and(|c| !c.is_empty())
    }

    fn tell_watchers(&self, key: &UserKey, status: &str) {
        let Some(watchers) = self.watchers.get(key) else {
            return;
        };
        let event = Frame::from(frame::watchlist_events(&[(status, &[key.1.as_ref()])]));
        for w in watchers.values() {
            w.send(event.clone());
        }
    }
}
