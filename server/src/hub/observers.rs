//! What the hub tells the webhooks: channels becoming occupied or vacated (over the whole cluster),
//! presence members added or removed, cache misses, client events and subscription counts.
//!
//! Events about the cluster's state (occupancy, members, counts) are seen by every node; only the
//! node that `decides` (the cluster's lowest-id live node; the only node when alone) passes them on,
//! so each is decided once. Events with one origin (a client event, a cache miss) are passed on by
//! the node where they happened. Owns the occupancy view; delivers nothing itself.

use std::sync::{Arc, OnceLock};

use dashmap::DashSet;

use super::registry::ChannelKey;
use crate::webhooks::{Observation, Webhooks};

/// Answers whether this node decides cluster-wide events now.
pub type Decides = Arc<dyn Fn() -> bool + Send + Sync>;

#[derive(Default)]
pub struct Observers {
    webhooks: OnceLock<(Arc<Webhooks>, Decides)>,
    /// Channels with subscribers somewhere in the cluster, as this node last counted them.
    occupied: DashSet<ChannelKey>,
}

impl Observers {
    pub fn set(&self, webhooks: Arc<Webhooks>, decides: Decides) {
        let _ = self.webhooks.set((webhooks, decides));
    }

    /// An event that happened on this node.
    pub fn local(&self, observation: Observation) {
        if let Some((webhooks, _)) = self.webhooks.get() {
            webhooks.observe(observation);
        }
    }

    /// An event about the cluster's state, passed on by the deciding node only.
    pub fn cluster(&self, observation: Observation) {
        if let Some((webhooks, decides)) = self.webhooks.get() {
            if decides() {
                webhooks.observe(observation);
            }
        }
    }

    /// A presence member was added (`true`) or removed on a channel, cluster-wide.
    pub fn member(&self, key: &ChannelKey, user_id: &Arc<str>, added: bool) {
        let (app_id, channel, user_id) = (key.0.clone(), key.1.clone(), user_id.clone());
        self.cluster(match added {
            true => Observation::MemberAdded {
                app_id,
                channel,
                user_id,
            },
            false => Observation::MemberRemoved {
                app_id,
                channel,
                user_id,
            },
        });
    }

    /// The cluster-wide subscriber count of a channel is now `total`.
    pub fn subscribers(&self, key: &ChannelKey, total: usize, counted: bool) {
        if self.webhooks.get().is_none() {
            return;
        }
        let (app_id, channel) = (key.0.clone(), key.1.clone());
        if total > 0 && self.occupied.insert(key.clone()) {
            self.cluster(Observation::ChannelOccupied {
                app_id: app_id.clone(),
                channel: channel.clone(),
            });
        } else if total == 0 && self.occupied.remove(key).is_some() {
            self.cluster(Observation::ChannelVacated {
                app_id: app_id.clone(),
                channel: channel.clone(),
            });
        }
        if counted {
            self.cluster(Observation::SubscriptionCount {
                app_id,
                channel,
                count: total,
            });
        }
    }
}
