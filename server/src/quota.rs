//! Daily message quotas of tenants (`max_messages_per_day`), counted per UTC day on this node.
//!
//! A message is one event on one channel accepted by the HTTP API, as Pusher counts them.

use std::sync::atomic::{AtomicI64, Ordering};

use dashmap::DashMap;
use parking_lot::Mutex;

const DAY: i64 = 24 * 3600;

/// Messages per tenant for the current day.
#[derive(Default)]
pub struct DailyQuota {
    day: AtomicI64,
    counts: DashMap<String, i64>,
    rollover: Mutex<()>,
}

impl DailyQuota {
    /// Counts `n` messages for `tenant_id` at `now` (Unix seconds); false, counting nothing, when that
    /// would go over `limit` (0 = unlimited).
    pub fn try_take(&self, tenant_id: &str, n: i64, limit: i64, now: i64) -> bool {
        let today = now.div_euclid(DAY);
        if self.day.load(Ordering::Acquire) != today {
            let _guard = self.rollover.lock();
            if self.day.load(Ordering::Acquire) != today {
                self.counts.clear();
                self.day.store(today, Ordering::Release);
            }
        }
        let mut count = self.counts.entry(tenant_id.to_string()).or_insert(0);
        if limit > 0 && *count + n > limit {
            return false;
        }
        *count += n;
        true
    }

    pub fn used(&self, tenant_id: &str) -> i64 {
        self.counts.get(tenant_id).map(|c| *c).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_applies_per_day() {
        let q = DailyQuota::default();
        let t0 = 10 * DAY + 5;
        assert!(q.try_take("t", 3, 5, t0));
        assert!(!q.try_take("t", 3, 5, t0));
        assert!(q.try_take("t", 2, 5, t0));
        assert!(q.try_take("other", 5, 5, t0));
        assert!(q.try_take("t", 5, 5, t0 + DAY));
        assert!(q.try_take("t", 100, 0, t0 + DAY));
    }
}
