//! Presence members of one channel: users by `user_id`, each with the sockets (tabs) it joined from.
//!
//! A user is added on its first socket and removed after its last, so tabs are deduplicated.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::protocol::SocketId;

/// A presence member as given in signed `channel_data`.
#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: Arc<str>,
    pub user_info: Value,
}

struct Entry {
    info: Value,
    sockets: usize,
}

/// The members of one presence channel, in join order for stable snapshots.
#[derive(Default)]
pub struct PresenceMembers {
    users: HashMap<Arc<str>, Entry>,
    order: Vec<Arc<str>>,
    by_socket: HashMap<SocketId, Arc<str>>,
}

impl PresenceMembers {
    pub fn count(&self) -> usize {
        self.users.len()
    }

    pub fn contains(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    /// Adds `socket` as `member`; true when this is the user's first socket (so `member_added` is due).
    pub fn join(&mut self, socket: &SocketId, member: &Member) -> bool {
        if self.by_socket.contains_key(socket) {
            return false;
        }
        self.by_socket.insert(socket.clone(), member.user_id.clone());
        match self.users.get_mut(&member.user_id) {
            Some(entry) => {
                entry.sockets += 1;
                false
            }
            None => {
                self.users.insert(
                    member.user_id.clone(),
                    Entry {
                        info: member.user_info.clone(),
                        sockets: 1,
                    },
                );
                self.order.push(member.user_id.clone());
                true
            }
        }
    }

    /// Removes `socket`; returns the user id when that was the user's last socket (so `member_removed` is due).
    pub fn leave(&mut self, socket: &SocketId) -> Option<Arc<str>> {
        let user = self.by_socket.remove(socket)?;
        let entry = self.users.get_mut(&user)?;
        entry.sockets -= 1;
        if entry.sockets > 0 {
            return None;
        }
        self.users.remove(&user);
        self.order.retain(|u| *u != user);
        Some(user)
    }

    /// The user ids, in join order.
    pub fn ids(&self) -> impl Iterator<Item = &Arc<str>> {
        self.order.iter()
    }

    /// `{"presence":{"ids":[…],"hash":{id:info},"count":N}}` for `subscription_succeeded`.
    pub fn snapshot(&self) -> Value {
        let mut hash = serde_json::Map::new();
        for id in &self.order {
            if let Some(e) = self.users.get(id) {
                hash.insert(id.to_string(), e.info.clone());
            }
        }
        json!({ "presence": { "ids": self.order.iter().map(|s| s.as_ref()).collect::<Vec<_>>(), "hash": hash, "count": self.order.len() } })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> Member {
        Member {
            user_id: id.into(),
            user_info: json!({"name": id}),
        }
    }

    #[test]
    fn tabs_are_deduplicated() {
        let mut p = PresenceMembers::default();
        let (a1, a2, b) = (SocketId::random(), SocketId::random(), SocketId::random());
        assert!(p.join(&a1, &member("alice")));
        assert!(!p.join(&a2, &member("alice")));
        assert!(p.join(&b, &member("bob")));
        assert_eq!(p.count(), 2);
        assert_eq!(p.leave(&a1), None);
        assert_eq!(p.leave(&a2).as_deref(), Some("alice"));
        assert_eq!(p.count(), 1);
        assert_eq!(p.snapshot()["presence"]["ids"], json!(["bob"]));
        assert_eq!(p.leave(&a2), None);
    }
}
