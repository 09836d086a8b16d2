//! Live channel subscriptions: a node listens to a channel's subject exactly while it has local
//! subscribers on that channel (interest-based routing).
//!
//! A subscription is established (and confirmed by a NATS round trip) before the joining client is
//! told `subscription_succeeded`; a join in progress keeps it from being dropped by a concurrent
//! "last subscriber left", so no subscriber is ever left on a channel this node does not listen to.

use std::collections::HashMap;
use std::sync::Arc;

use futures_util::StreamExt;
use tokio::task::AbortHandle;

use super::Cluster;
use crate::bus::Deliver;
use crate::hub::ChannelKey;
use crate::message::ChannelMessage;

/// One channel's subscription.
pub(super) struct Live {
    task: AbortHandle,
    /// Subscribes in progress on this node.
    joining: usize,
}

pub(super) type LiveMap = tokio::sync::Mutex<HashMap<ChannelKey, Live>>;

impl Cluster {
    /// Makes sure this node listens to `key` before a local client joins it; pair with `joined`.
    pub async fn join_interest(&self, key: &ChannelKey) {
        let mut live = self.live.lock().await;
        if !live.contains_key(key) {
            match self.client.subscribe(self.subjects.live(&key.0, &key.1)).await {
                Ok(sub) => {
                    let hub = self.hub.clone();
                    let task = tokio::spawn(async move {
                        let mut sub = sub;
                        while let Some(msg) = sub.next().await {
                            match serde_json::from_slice::<ChannelMessage>(&msg.payload) {
                                Ok(message) => hub.deliver(&message),
                                Err(e) => tracing::warn!(error = %e, "unreadable message on the bus"),
                            }
                        }
                    });
                    self.round_trip().await;
                    live.insert(
                        key.clone(),
                        Live {
                            task: task.abort_handle(),
                            joining: 0,
                        },
                    );
                }
                Err(e) => tracing::error!(error = %e, "cannot subscribe to a channel's subject"),
            }
        }
        if let Some(entry) = live.get_mut(key) {
            entry.joining += 1;
        }
    }

    /// Waits for the server to answer a request sent after the subscription, so it has processed
    /// the subscription (a server handles one connection's operations in order). Nobody answers
    /// the probe subject: the server's "no responders" reply is the answer.
    pub(super) async fn round_trip(&self) {
        let probe = self
            .client
            .request(self.subjects.probe(&self.node), bytes::Bytes::new());
        match tokio::time::timeout(std::time::Duration::from_secs(2), probe).await {
            Ok(Ok(_)) | Ok(Err(_)) => {}
            Err(_) => tracing::warn!("NATS did not answer the subscription probe within 2 s"),
        }
    }

    /// The local join of `key` finished (subscribed or refused).
    pub async fn joined(&self, key: &ChannelKey) {
        let mut live = self.live.lock().await;
        if let Some(entry) = live.get_mut(key) {
            entry.joining = entry.joining.saturating_sub(1);
        }
        self.drop_if_unused(&mut live, key);
    }

    /// The last local subscriber of `key` left.
    pub(super) async fn interest_lost(&self, key: &ChannelKey) {
        let mut live = self.live.lock().await;
        self.drop_if_unused(&mut live, key);
    }

    fn drop_if_unused(&self, live: &mut HashMap<ChannelKey, Live>, key: &ChannelKey) {
        let unused =
            live.get(key).is_some_and(|e| e.joining == 0) && self.hub.channels.subscriber_count(&key.0, &key.1) == 0;
        if unused {
            // Ending the task drops the subscription, which unsubscribes it.
            if let Some(entry) = live.remove(key) {
                entry.task.abort();
            }
        }
    }
}

/// An empty live map.
pub(super) fn new_map() -> Arc<LiveMap> {
    Arc::new(tokio::sync::Mutex::new(HashMap::new()))
}
