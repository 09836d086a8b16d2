//! Which nodes are alive: each publishes a heartbeat every `HEARTBEAT`; one not heard from for the
//! node timeout is dead, and its presence members are removed everywhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::hub::Decision;

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// How long after its own first heartbeat came back a node waits before it decides anything for the
/// cluster: by then every live node's heartbeat has reached it.
pub const DECIDER_WARM_UP: Duration = Duration::from_millis(HEARTBEAT.as_millis() as u64 + 500);

/// Connections a node reported, per app and per tenant.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub apps: HashMap<Arc<str>, usize>,
    pub tenants: HashMap<Arc<str>, usize>,
}

/// Last heartbeat of every other node.
#[derive(Default)]
pub struct NodeTable {
    seen: Mutex<HashMap<Arc<str>, (Instant, Counts)>>,
    /// When this node first heard its own heartbeat (it listens from then on).
    listening_since: Mutex<Option<Instant>>,
}

impl NodeTable {
    /// Records a heartbeat; true when the node was not known (new, or back after being dropped).
    pub fn heard(&self, node: &Arc<str>, now: Instant, counts: Counts) -> bool {
        self.seen.lock().insert(node.clone(), (now, counts)).is_none()
    }

    /// Connections of `app` and of `tenant` on the other nodes, as last reported.
    pub fn connections(&self, app: &str, tenant: &str) -> (usize, usize) {
        let seen = self.seen.lock();
        let app_total = seen.values().map(|(_, c)| c.apps.get(app).copied().unwrap_or(0)).sum();
        let tenant_total = seen
            .values()
            .map(|(_, c)| c.tenants.get(tenant).copied().unwrap_or(0))
            .sum();
        (app_total, tenant_total)
    }

    /// Removes and returns the nodes silent for longer than `timeout`, each with when it was last heard.
    pub fn expire(&self, timeout: Duration, now: Instant) -> Vec<(Arc<str>, Instant)> {
        let mut seen = self.seen.lock();
        let dead: Vec<(Arc<str>, Instant)> = seen
            .iter()
            .filter(|(_, (t, _))| now.duration_since(*t) > timeout)
            .map(|(n, (t, _))| (n.clone(), *t))
            .collect();
        for (node, _) in &dead {
            seen.remove(node);
        }
        dead
    }

    /// Counts every known node as heard `now` (after this node itself was cut off).
    pub fn touch_all(&self, now: Instant) {
        self.seen.lock().values_mut().for_each(|(t, _)| *t = now);
    }

    /// This node's own heartbeat came back.
    pub fn heard_self(&self, now: Instant) {
        self.listening_since.lock().get_or_insert(now);
    }

    /// `me` decides cluster-wide events when no other live node has a lower id, and it has listened
    /// for `DECIDER_WARM_UP` (before that, a lower node may not have been heard yet).
    pub fn decision(&self, me: &str, now: Instant) -> Decision {
        if !self.seen.lock().keys().all(|other| **other > *me) {
            return Decision::Not;
        }
        let listening = self
            .listening_since
            .lock()
            .map(|since| now.saturating_duration_since(since));
        match listening {
            Some(up) if up >= DECIDER_WARM_UP => Decision::Decides,
            Some(up) => Decision::NotYet(DECIDER_WARM_UP - up),
            None => Decision::NotYet(DECIDER_WARM_UP),
        }
    }

    pub fn others(&self) -> usize {
        self.seen.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_nodes_expire_once() {
        let t = NodeTable::default();
        let t0 = Instant::now();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let counts = |n: usize| Counts {
            apps: [(Arc::from("app"), n)].into(),
            tenants: [(Arc::from("t"), n)].into(),
        };
        assert!(t.heard(&a, t0, counts(1)));
        assert!(!t.heard(&a, t0 + Duration::from_secs(1), counts(2)));
        assert!(t.heard(&b, t0 + Duration::from_secs(5), counts(3)));
        assert_eq!(t.connections("app", "t"), (5, 5));
        assert_eq!(
            t.expire(Duration::from_secs(3), t0 + Duration::from_secs(6)),
            vec![(a.clone(), t0 + Duration::from_secs(1))]
        );
        assert_eq!(t.others(), 1);
        assert!(t.expire(Duration::from_secs(3), t0 + Duration::from_secs(6)).is_empty());
    }

    #[test]
    fn the_lowest_node_decides_once_it_has_listened_for_the_warm_up() {
        let t = NodeTable::default();
        let t0 = Instant::now();
        assert_eq!(
            t.decision("b", t0),
            Decision::NotYet(DECIDER_WARM_UP),
            "not listening yet"
        );
        t.heard_self(t0);
        t.heard_self(t0 + Duration::from_millis(900)); // only the first counts
        let half = DECIDER_WARM_UP / 2;
        assert_eq!(t.decision("b", t0 + half), Decision::NotYet(DECIDER_WARM_UP - half));
        assert_eq!(t.decision("b", t0 + DECIDER_WARM_UP), Decision::Decides, "alone");
        t.heard(&Arc::from("a"), t0, Counts::default());
        assert_eq!(t.decision("b", t0 + DECIDER_WARM_UP), Decision::Not, "a is lower");
    }
}
