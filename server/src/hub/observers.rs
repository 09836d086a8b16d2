//! What the hub tells the webhooks: channels becoming occupied or vacated (over the whole cluster),
//! presence members added or removed, cache misses, client events and subscription counts.
//!
//! Events about the cluster's state (occupancy, members, counts) are seen by every node; only the
//! node that `decides` (the cluster's lowest-id live node; the only node when alone) passes them on,
//! so each is decided once. A node that has not yet had time to hear every other node (it just
//! started) holds them instead, and passes them on afterwards only if it still decides then: no
//! event is decided twice while the nodes learn of each other, and none is lost when it turns out
//! to be alone. The others keep what they passed over for a while: when the deciding node dies, the
//! node that decides after it passes on what happened since the dead node was last heard (some of
//! it may have been decided already: at-least-once, as webhooks are). Events with one origin (a client event, a cache miss) are passed on by the node
//! where they happened. Owns the occupancy view; delivers nothing itself.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dashmap::DashSet;
use parking_lot::Mutex;

use crate::channel_key::ChannelKey;
use crate::webhooks::{Observation, WebhookEvent, Webhooks};

/// Whether this node decides cluster-wide events now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Decides,
    /// Another node does.
    Not,
    /// This node would, but may not have heard every other node yet: ask again after this long.
    NotYet(Duration),
}

/// Answers whether this node decides cluster-wide events now.
pub type Decides = Arc<dyn Fn() -> Decision + Send + Sync>;

/// Observations held while the node warms up; beyond this they are passed on at once (a possible
/// duplicate rather than a loss).
const MAX_HELD: usize = 10_000;

/// How long a node that does not decide keeps the cluster events it passed over (longer than any
/// sensible node timeout), and at most how many.
const PASSED_OVER_KEEP: Duration = Duration::from_secs(60);
const MAX_PASSED_OVER: usize = 10_000;

pub struct Observers {
    webhooks: Arc<Webhooks>,
    decides: Decides,
    /// Channels with subscribers somewhere in the cluster, as this node last counted them.
    occupied: DashSet<ChannelKey>,
    /// Cluster events seen while `NotYet`, in order.
    held: Arc<Mutex<Vec<Observation>>>,
    /// Cluster events another node decided, with when they were seen, oldest first.
    passed_over: Mutex<VecDeque<(Instant, Observation)>>,
}

impl Observers {
    /// Observers that pass events on to `webhooks`, the cluster's when `decides` says so.
    pub fn new(webhooks: Arc<Webhooks>, decides: Decides) -> Self {
        Observers {
            webhooks,
            decides,
            occupied: DashSet::new(),
            held: Arc::default(),
            passed_over: Mutex::default(),
        }
    }

    /// An event that happened on this node.
    pub fn local(&self, observation: Observation) {
        self.webhooks.observe(observation);
    }

    /// An event about the cluster's state, passed on by the deciding node only.
    pub fn cluster(&self, observation: Observation) {
        let (webhooks, decides) = (&self.webhooks, &self.decides);
        let mut held = self.held.lock();
        // Behind held events, an event waits its turn whatever the decision: order is kept.
        match (decides(), held.is_empty()) {
            (Decision::Decides, true) => webhooks.observe(observation),
            // kept for a take-over only when an app's webhooks would want it
            (Decision::Not, true) if webhooks.wants(&observation) => self.pass_over(observation),
            (Decision::Not, true) => {}
            (_, _) if held.len() >= MAX_HELD => webhooks.observe(observation),
            (decision, was_empty) => {
                held.push(observation);
                if was_empty {
                    let wait = match decision {
                        Decision::NotYet(wait) => wait,
                        _ => Duration::ZERO,
                    };
                    spawn_release(self.held.clone(), webhooks.clone(), decides.clone(), wait);
                }
            }
        }
    }

    fn pass_over(&self, observation: Observation) {
        let now = Instant::now();
        let mut passed = self.passed_over.lock();
        while passed
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > PASSED_OVER_KEEP)
            || passed.len() >= MAX_PASSED_OVER
        {
            passed.pop_front();
        }
        passed.push_back((now, observation));
    }

    /// This node decides from now on because the node that did died, last heard at `since`: passes
    /// on, in order, the cluster events it passed over from then on.
    pub fn take_over(&self, since: Instant) {
        let passed = std::mem::take(&mut *self.passed_over.lock());
        for (_, observation) in passed.into_iter().filter(|(at, _)| *at >= since) {
            self.webhooks.observe(observation);
        }
    }

    /// A presence member was added (`true`) or removed on a channel, cluster-wide.
    pub fn member(&self, key: &ChannelKey, user_id: &Arc<str>, added: bool) {
        let (channel, user_id) = (key.channel.clone(), user_id.clone());
        let event = match added {
            true => WebhookEvent::MemberAdded { channel, user_id },
            false => WebhookEvent::MemberRemoved { channel, user_id },
        };
        self.cluster(Observation::new(key.app.clone(), event));
    }

    /// The cluster-wide subscriber count of a channel is now `total`.
    pub fn subscribers(&self, key: &ChannelKey, total: usize, counted: bool) {
        let event = |event: WebhookEvent| Observation::new(key.app.clone(), event);
        let channel = || key.channel.clone();
        if total > 0 && self.occupied.insert(key.clone()) {
            self.cluster(event(WebhookEvent::ChannelOccupied { channel: channel() }));
        } else if total == 0 && self.occupied.remove(key).is_some() {
            self.cluster(event(WebhookEvent::ChannelVacated { channel: channel() }));
        }
        if counted {
            let subscription_count = total;
            self.cluster(event(WebhookEvent::SubscriptionCount {
                channel: channel(),
                subscription_count,
            }));
        }
    }
}

/// Once the warm-up is over, passes the held events on if this node decides, or drops them (the
/// node that decides saw them too).
fn spawn_release(held: Arc<Mutex<Vec<Observation>>>, webhooks: Arc<Webhooks>, decides: Decides, mut wait: Duration) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(wait).await;
            let mut queue = held.lock();
            match decides() {
                Decision::NotYet(more) => wait = more,
                decision => {
                    let events = std::mem::take(&mut *queue);
                    if decision == Decision::Decides {
                        events.into_iter().for_each(|o| webhooks.observe(o));
                    }
                    return;
                }
            }
        }
    });
}
