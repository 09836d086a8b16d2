//! Which channels this node listens to: a node subscribes to a channel's live subject exactly while
//! it has local subscribers there (interest-based routing), and runs one `ChannelTask` (`live.rs`)
//! per such channel.
//!
//! A subscription is established (and confirmed by a NATS round trip) before the joining client is
//! told `subscription_succeeded`; a join in progress keeps it from being dropped by a concurrent
//! "last subscriber left", so no subscriber is ever left on a channel this node does not listen to.
//! Each channel has its own lock: a join that waits on NATS holds up that channel only.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use super::live::ChannelTask;
use super::Cluster;
use crate::bus::Attach;
use crate::channel_key::ChannelKey;
use crate::history::{NotRecovered, Position, Retention, StartFrom, StreamStart};

/// One channel's subscription.
pub(super) struct Live {
    task: AbortHandle,
    attach: mpsc::UnboundedSender<AttachRequest>,
    /// Subscribes in progress on this node.
    joining: usize,
}

pub(super) struct AttachRequest {
    pub from: Option<StartFrom>,
    pub retention: Retention,
    pub attach: Attach,
}

/// One channel's slot: its subscription while there is one. Joins and leaves of a channel take
/// turns on the slot's lock, which is held across NATS round trips; other channels never wait on it.
type Slot = Arc<tokio::sync::Mutex<Option<Live>>>;

/// The channels this node listens to, each behind its own lock.
#[derive(Default)]
pub(super) struct LiveMap {
    /// Held only to find or remove a slot, never across an await.
    slots: parking_lot::Mutex<HashMap<ChannelKey, Slot>>,
}

impl LiveMap {
    /// The channel's slot, made when missing.
    fn slot(&self, key: &ChannelKey) -> Slot {
        self.slots.lock().entry(key.clone()).or_default().clone()
    }

    fn existing(&self, key: &ChannelKey) -> Option<Slot> {
        self.slots.lock().get(key).cloned()
    }

    /// Forgets the channel's slot when it is empty and nobody else holds it.
    fn forget_if_idle(&self, key: &ChannelKey) {
        let mut slots = self.slots.lock();
        let idle = slots
            .get(key)
            .is_some_and(|slot| Arc::strong_count(slot) == 1 && slot.try_lock().is_ok_and(|live| live.is_none()));
        if idle {
            slots.remove(key);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.slots.lock().len()
    }
}

impl Cluster {
    /// Makes sure this node listens to `key` before a local client joins it; pair with `joined`.
    pub(super) async fn join_interest(&self, key: &ChannelKey) {
        let slot = self.live.slot(key);
        let mut live = slot.lock().await;
        if live.is_none() {
            match self.client.subscribe(self.subjects.live(&key.app, &key.channel)).await {
                Ok(sub) => {
                    self.round_trip().await;
                    *live = Some(self.spawn_channel(key, sub));
                }
                Err(e) => tracing::error!(error = %e, "cannot subscribe to a channel's subject"),
            }
        }
        if let Some(entry) = live.as_mut() {
            entry.joining += 1;
        }
    }

    /// Starts the task that delivers the channel from `sub`.
    fn spawn_channel(&self, key: &ChannelKey, sub: async_nats::Subscriber) -> Live {
        let (attach, requests) = mpsc::unbounded_channel();
        let (hub, store, reconnects) = (
            self.hub.clone(),
            self.store.of(key).clone(),
            self.reconnects.subscribe(),
        );
        let task = ChannelTask::spawn(key.clone(), hub, store, sub, requests, reconnects);
        Live {
            task,
            attach,
            joining: 0,
        }
    }

    /// Has the channel's task attach a subscriber (see `Bus::attach`).
    pub(super) async fn attach_live(&self, key: &ChannelKey, request: AttachRequest) {
        let sender = match self.live.existing(key) {
            Some(slot) => slot.lock().await.as_ref().map(|l| l.attach.clone()),
            None => None,
        };
        let refused = match sender {
            Some(tx) => tx.send(request).err().map(|e| e.0),
            None => Some(request),
        };
        // Not listening to the channel (NATS refused the subscription): attach without a position.
        if let Some(request) = refused {
            let reason = request.from.map(|_| NotRecovered::Unavailable);
            (request.attach)(StreamStart::at(Position::default(), reason));
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
    pub(super) async fn joined(&self, key: &ChannelKey) {
        self.release(key, true).await;
    }

    /// The last local subscriber of `key` left.
    pub(super) async fn interest_lost(&self, key: &ChannelKey) {
        self.release(key, false).await;
    }

    /// Ends the channel's subscription when no join is in progress and no local subscriber is left.
    async fn release(&self, key: &ChannelKey, joined: bool) {
        let Some(slot) = self.live.existing(key) else { return };
        {
            let mut live = slot.lock().await;
            if let Some(entry) = live.as_mut().filter(|_| joined) {
                entry.joining = entry.joining.saturating_sub(1);
            }
            let unused = live.as_ref().is_some_and(|e| e.joining == 0)
                && self.hub.channels.subscriber_count(&key.app, &key.channel) == 0;
            if unused {
                // Ending the task drops the subscription, which unsubscribes it.
                if let Some(entry) = live.take() {
                    entry.task.abort();
                }
            }
        }
        drop(slot);
        self.live.forget_if_idle(key);
    }
}

/// An empty live map.
pub(super) fn new_map() -> Arc<LiveMap> {
    Arc::new(LiveMap::default())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::protocol::ChannelName;

    fn key(name: &str) -> ChannelKey {
        ChannelKey::new("app".into(), ChannelName::parse(name).unwrap())
    }

    #[tokio::test]
    async fn a_join_held_up_on_one_channel_does_not_hold_up_another() {
        let map = LiveMap::default();
        let slow = map.slot(&key("slow"));
        let held = slow.lock().await; // a join waiting on NATS for "slow"
        let other = map.slot(&key("other"));
        let other_join = tokio::time::timeout(Duration::from_millis(100), other.lock()).await;
        assert!(
            other_join.is_ok(),
            "a join of another channel waited behind the slow one"
        );
        drop(other_join);
        let same = map.slot(&key("slow"));
        let same_join = tokio::time::timeout(Duration::from_millis(100), same.lock()).await;
        assert!(
            same_join.is_err(),
            "a second join of the same channel must wait its turn"
        );
        drop(held);
        assert!(same.lock().await.is_none());
    }

    #[tokio::test]
    async fn an_idle_slot_is_forgotten_but_not_while_held() {
        let map = LiveMap::default();
        let held = map.slot(&key("a"));
        map.forget_if_idle(&key("a"));
        assert_eq!(map.len(), 1, "someone still holds it");
        drop(held);
        map.forget_if_idle(&key("a"));
        assert_eq!(map.len(), 0);
    }
}
