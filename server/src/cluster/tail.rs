//! When a channel task checks the store for messages its live subscription may not have heard: a
//! few times after the channel is joined on this node (with several NATS servers, the
//! subscription's interest reaches the others a little later), and a while after its last message
//! (a lost last message has no successor whose `prev` would reveal it). A channel in steady traffic
//! needs no more. Pure timing logic: the task passes the time in.

use std::time::Duration;

use tokio::time::Instant;

/// After the channel is joined on this node.
pub(super) const JOIN_CHECKS: [Duration; 3] = [
    Duration::from_millis(250),
    Duration::from_secs(1),
    Duration::from_secs(3),
];
/// How long after a stored message, with no other since, the store is checked for a later one.
pub(super) const QUIET_CHECK: Duration = Duration::from_secs(2);

pub(super) struct TailChecks {
    joined: Instant,
    /// Join checks done.
    join_checks: usize,
    quiet_check: Option<Instant>,
}

impl TailChecks {
    pub fn new(joined: Instant) -> Self {
        TailChecks {
            joined,
            join_checks: 0,
            quiet_check: None,
        }
    }

    /// When the next check is due; `None` when none is.
    pub fn next_at(&self) -> Option<Instant> {
        let join = JOIN_CHECKS.get(self.join_checks).map(|d| self.joined + *d);
        match (join, self.quiet_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A stored message was delivered at `now`.
    pub fn after_message(&mut self, now: Instant) {
        self.quiet_check = Some(now + QUIET_CHECK);
    }

    /// The checks due at `now` are done.
    pub fn fired(&mut self, now: Instant) {
        if JOIN_CHECKS
            .get(self.join_checks)
            .is_some_and(|d| self.joined + *d <= now)
        {
            self.join_checks += 1;
        }
        if self.quiet_check.is_some_and(|at| at <= now) {
            self.quiet_check = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_follow_the_join_then_each_quiet_spell() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut c = TailChecks::new(t0);
        assert_eq!(c.next_at(), Some(at(250)));
        c.fired(at(250));
        assert_eq!(c.next_at(), Some(at(1000)));
        c.after_message(at(300)); // quiet check at 2.3 s, after the 1 s join check
        assert_eq!(c.next_at(), Some(at(1000)));
        c.fired(at(1000));
        assert_eq!(
            c.next_at(),
            Some(at(2300)),
            "the quiet check comes before the 3 s join check"
        );
        c.fired(at(2300));
        assert_eq!(c.next_at(), Some(at(3000)));
        c.fired(at(3000));
        assert_eq!(c.next_at(), None, "no traffic, no more checks");
        c.after_message(at(10_000));
        assert_eq!(c.next_at(), Some(at(12_000)));
        c.fired(at(11_000));
        assert_eq!(c.next_at(), Some(at(12_000)), "not due yet, still pending");
    }
}
