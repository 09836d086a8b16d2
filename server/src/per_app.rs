//! A counter per app (messages accepted, frames delivered), cheap on the hot path: one map read
//! and one atomic add once the app has an entry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

#[derive(Default)]
pub struct PerAppCounter {
    counts: DashMap<Arc<str>, AtomicU64>,
}

impl PerAppCounter {
    pub fn add(&self, app_id: &Arc<str>, n: u64) {
        if let Some(c) = self.counts.get(app_id) {
            c.fetch_add(n, Ordering::Relaxed);
            return;
        }
        self.counts
            .entry(app_id.clone())
            .or_default()
            .fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self, app_id: &str) -> u64 {
        self.counts.get(app_id).map(|c| c.load(Ordering::Relaxed)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_app() {
        let c = PerAppCounter::default();
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        c.add(&a, 2);
        c.add(&a, 3);
        c.add(&b, 1);
        assert_eq!((c.get("a"), c.get("b"), c.get("z")), (5, 1, 0));
    }
}
