//! Subscriber counts across the cluster: this node's, the ones other nodes report, and the
//! `pusher_internal:subscription_count` notices to a channel's subscribers (throttled as Pusher does,
//! see `subscription_count`). Also what the webhook observers learn of occupancy.

use std::sync::Arc;
use std::time::Instant;

use super::subscription_count::Notice;
use super::{Frame, Hub, HubEvent};
use crate::channel_key::ChannelKey;
use crate::protocol::{frame, ChannelKind};
use crate::store::App;

impl Hub {
    /// This node's subscriber count of a channel changed: tell other nodes, and the subscribers.
    pub(super) fn local_count_changed(self: &Arc<Self>, app: &App, key: &ChannelKey, local: usize) {
        if key.channel.kind() == ChannelKind::ServerToUser {
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
        let enabled = self.apps.by_id(&key.app).is_some_and(|a| a.settings.subscription_count);
        self.observers.subscribers(&key, self.total_subscribers(&key), enabled);
        if enabled && self.channels.subscriber_count(&key.app, &key.channel) > 0 {
            self.count_changed(&key);
        }
    }

    /// This node's subscriber counts that other nodes keep (apps with subscription counting or
    /// webhooks), for a presence `Sync`.
    pub fn local_counts_to_share(&self) -> Vec<(ChannelKey, usize)> {
        let shared = |app_id: &str| {
            self.apps
                .by_id(app_id)
                .is_some_and(|a| a.settings.subscription_count || !a.settings.webhooks.is_empty())
        };
        let mut counts = self.channels.local_subscriber_counts();
        counts.retain(|(key, _)| key.channel.kind() != ChannelKind::ServerToUser && shared(&key.app));
        counts
    }

    /// Replaces everything `node` reported with `counts` (a `Sync`): a count missed while the bus
    /// was down is repaired, and a channel the node no longer holds drops to what the others hold.
    pub fn replace_node_counts(self: &Arc<Self>, node: &Arc<str>, counts: Vec<(ChannelKey, usize)>) {
        let reported: std::collections::HashMap<ChannelKey, usize> = counts.into_iter().collect();
        let mut gone = Vec::new();
        self.remote_counts.iter().for_each(|nodes| {
            if nodes.contains_key(node) && !reported.contains_key(nodes.key()) {
                gone.push(nodes.key().clone());
            }
        });
        for key in gone {
            self.remote_count(node, key, 0);
        }
        for (key, count) in reported {
            let known = self.remote_counts.get(&key).and_then(|n| n.get(node).copied());
            if known != Some(count) {
                self.remote_count(node, key, count);
            }
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
            let counted = self.apps.by_id(&key.app).is_some_and(|a| a.settings.subscription_count);
            self.observers.subscribers(&key, self.total_subscribers(&key), counted);
        }
    }

    /// Subscribers of a channel on this node and, as last reported, on the others.
    fn total_subscribers(&self, key: &ChannelKey) -> usize {
        let remote: usize = self.remote_counts.get(key).map(|n| n.values().sum()).unwrap_or(0);
        self.channels.subscriber_count(&key.app, &key.channel) + remote
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
            let notice = Frame::from(frame::subscription_count(key.channel.as_str(), count));
            self.channels.fan_out(&key.app, &key.channel, &notice, None);
        }
    }
}
