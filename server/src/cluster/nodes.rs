//! Which nodes are alive: each publishes a heartbeat every `HEARTBEAT`; one not heard from for the
//! node timeout is dead, and its presence members are removed everywhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// How often a node says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Last heartbeat of every other node.
#[derive(Default)]
pub struct NodeTable {
    seen: Mutex<HashMap<Arc<str>, Instant>>,
}

impl NodeTable {
    /// Records a heartbeat; true when the node was not known (new, or back after being dropped).
    pub fn heard(&self, node: &Arc<str>, now: Instant) -> bool {
        self.seen.lock().insert(node.clone(), now).is_none()
    }

    /// Removes and returns the nodes silent for longer than `timeout`.
    pub fn expire(&self, timeout: Duration, now: Instant) -> Vec<Arc<str>> {
        let mut seen = self.seen.lock();
        let dead: Vec<Arc<str>> = seen
            .iter()
            .filter(|(_, t)| now.duration_since(**t) > timeout)
            .map(|(n, _)| n.clone())
            .collect();
        for node in &dead {
            seen.remove(node);
        }
        dead
    }

    /// Other nodes believed alive.
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
        assert!(t.heard(&a, t0));
        assert!(!t.heard(&a, t0 + Duration::from_secs(1)));
        assert!(t.heard(&b, t0 + Duration::from_secs(5)));
        assert_eq!(
            t.expire(Duration::from_secs(3), t0 + Duration::from_secs(6)),
            vec![a.clone()]
        );
        assert_eq!(t.others(), 1);
        assert!(t.expire(Duration::from_secs(3), t0 + Duration::from_secs(6)).is_empty());
    }
}
