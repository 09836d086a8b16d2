//! Presence members of one channel, cluster-wide: users by `user_id`, each with the local sockets
//! (tabs) it joined from on this node and the other nodes where it is present.
//!
//! A user is added when its first socket anywhere joins and removed after its last one anywhere
//! leaves, so tabs and nodes are deduplicated. On a single node there are no remote entries.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::protocol::SocketId;

/// A presence member as given in signed `channel_data`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub user_id: Arc<str>,
    pub user_info: Value,
}

struct Entry {
    info: Value,
    /// Sockets of this node subscribed as this user.
    local: usize,
    /// Other nodes where the user is subscribed.
    remote: BTreeSet<Arc<str>>,
}

impl Entry {
    fn present(&self) -> bool {
        self.local > 0 || !self.remote.is_empty()
    }
}

/// What a local join changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LocalJoin {
    /// The user was present nowhere before: `member_added` is due.
    pub added: bool,
    /// The user's first socket on this node: other nodes must hear of it.
    pub first_here: bool,
}

/// What a local leave changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LocalLeave {
    /// The user whose last socket on this node left (other nodes must hear of it).
    pub last_here: Option<Arc<str>>,
    /// The user is now present nowhere: `member_removed` is due.
    pub removed: bool,
}

/// The members of one presence channel, in join order for stable snapshots.
#[derive(Default)]
pub struct PresenceMembers {
    users: HashMap<Arc<str>, Entry>,
    order: Vec<Arc<str>>,
    by_socket: HashMap<SocketId, Arc<str>>,
}

impl PresenceMembers {
    /// Users present anywhere in the cluster.
    pub fn count(&self) -> usize {
        self.users.len()
    }

    pub fn contains(&self, user_id: &str) -> bool {
        self.users.contains_key(user_id)
    }

    fn insert(&mut self, member: &Member) -> &mut Entry {
        if !self.users.contains_key(&member.user_id) {
            self.order.push(member.user_id.clone());
        }
        self.users.entry(member.user_id.clone()).or_insert_with(|| Entry {
            info: member.user_info.clone(),
            local: 0,
            remote: BTreeSet::new(),
        })
    }

    fn drop_if_absent(&mut self, user: &Arc<str>) -> bool {
        if self.users.get(user).is_some_and(|e| !e.present()) {
            self.users.remove(user);
            self.order.retain(|u| u != user);
            return true;
        }
        false
    }

    /// Adds local `socket` as `member`.
    pub fn join(&mut self, socket: &SocketId, member: &Member) -> LocalJoin {
        if self.by_socket.contains_key(socket) {
            return LocalJoin::default();
        }
        self.by_socket.insert(socket.clone(), member.user_id.clone());
        let added = !self.contains(&member.user_id);
        let entry = self.insert(member);
        entry.local += 1;
        LocalJoin {
            added,
            first_here: entry.local == 1,
        }
    }

    /// Removes local `socket`.
    pub fn leave(&mut self, socket: &SocketId) -> LocalLeave {
        let Some(user) = self.by_socket.remove(socket) else {
            return LocalLeave::default();
        };
        let Some(entry) = self.users.get_mut(&user) else {
            return LocalLeave::default();
        };
        entry.local = entry.local.saturating_sub(1);
        if entry.local > 0 {
            return LocalLeave::default();
        }
        let removed = self.drop_if_absent(&user);
        LocalLeave {
            last_here: Some(user),
            removed,
        }
    }

    /// `node` reports `member` present there; true when `member_added` is due.
    pub fn remote_join(&mut self, node: &Arc<str>, member: &Member) -> bool {
        let added = !self.contains(&member.user_id);
        self.insert(member).remote.insert(node.clone());
        added
    }

    /// `node` reports `user` gone from there; true when `member_removed` is due.
    pub fn remote_leave(&mut self, node: &Arc<str>, user: &Arc<str>) -> bool {
        match self.users.get_mut(user) {
            Some(entry) => {
                entry.remote.remove(node);
                self.drop_if_absent(user)
            }
            None => false,
        }
    }

    /// Forgets everything `node` reported; returns the users now present nowhere.
    pub fn forget_node(&mut self, node: &Arc<str>) -> Vec<Arc<str>> {
        let users: Vec<Arc<str>> = self
            .users
            .iter()
            .filter(|(_, e)| e.remote.contains(node))
            .map(|(u, _)| u.clone())
            .collect();
        users.into_iter().filter(|u| self.remote_leave(node, u)).collect()
    }

    /// The users `node` reported present.
    pub fn users_on(&self, node: &Arc<str>) -> Vec<Arc<str>> {
        self.users
            .iter()
            .filter(|(_, e)| e.remote.contains(node))
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// The users with a socket on this node (what other nodes should know of this one).
    pub fn local_members(&self) -> Vec<Member> {
        self.order
            .iter()
            .filter_map(|u| {
                self.users.get(u).filter(|e| e.local > 0).map(|e| Member {
                    user_id: u.clone(),
                    user_info: e.info.clone(),
                })
            })
            .collect()
    }

    /// The user ids, in join order.
    pub fn ids(&self) -> impl Iterator<Item = &Arc<str>> {
        self.order.iter()
    }

    /// The members (id and info), in join order.
    pub fn members(&self) -> Vec<Member> {
        let info = |id: &Arc<str>| self.users.get(id).map(|e| e.info.clone()).unwrap_or_default();
        self.order
            .iter()
            .map(|id| Member {
                user_id: id.clone(),
                user_info: info(id),
            })
            .collect()
    }

    /// `{"presence":{"ids":[…],"hash":{id:info},"count":N}}` for `subscription_succeeded`.
    pub fn snapshot(&self) -> Value {
        let mut hash = serde_json::Map::new();
        for id in &self.order {
            if let Some(e) = self.users.get(id) {
                hash.insert(id.to_string(), e.info.clone());
            }
        }
        let ids: Vec<&str> = self.order.iter().map(|s| s.as_ref()).collect();
        json!({ "presence": { "ids": ids, "hash": hash, "count": self.order.len() } })
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
        assert_eq!(
            p.join(&a1, &member("alice")),
            LocalJoin {
                added: true,
                first_here: true
            }
        );
        assert_eq!(
            p.join(&a2, &member("alice")),
            LocalJoin {
                added: false,
                first_here: false
            }
        );
        assert!(p.join(&b, &member("bob")).added);
        assert_eq!(p.count(), 2);
        assert_eq!(p.leave(&a1), LocalLeave::default());
        assert_eq!(
            p.leave(&a2),
            LocalLeave {
                last_here: Some("alice".into()),
                removed: true
            }
        );
        assert_eq!(p.count(), 1);
        assert_eq!(p.snapshot()["presence"]["ids"], json!(["bob"]));
        assert_eq!(p.leave(&a2), LocalLeave::default());
    }

    #[test]
    fn nodes_are_deduplicated() {
        let mut p = PresenceMembers::default();
        let (n2, n3): (Arc<str>, Arc<str>) = ("n2".into(), "n3".into());
        let a = SocketId::random();
        assert!(p.remote_join(&n2, &member("alice")));
        assert!(!p.remote_join(&n3, &member("alice")));
        assert_eq!(
            p.join(&a, &member("alice")),
            LocalJoin {
                added: false,
                first_here: true
            }
        );
        assert_eq!(
            p.leave(&a),
            LocalLeave {
                last_here: Some("alice".into()),
                removed: false
            }
        );
        assert!(!p.remote_leave(&n2, &"alice".into()));
        assert_eq!(p.forget_node(&n3), vec![Arc::<str>::from("alice")]);
        assert_eq!(p.count(), 0);
        assert!(p.local_members().is_empty());
    }
}
