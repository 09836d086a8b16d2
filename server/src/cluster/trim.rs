//! Trimming channels to their app's retention, off the publish path and seldom. The stream keeps
//! at most `history_size` records per channel, its own limit and the most any app may keep; a
//! channel of an app that keeps fewer (`history_max_messages`) is purged down to its app's count
//! here, `history_trim_after` (a minute by default) after the first record appended to it since its
//! last purge. Reads do not wait for it: they count back from a channel's last message themselves
//! (`history::replay`), so a channel holding more than its app keeps shows exactly what it keeps.
//!
//! Why seldom: a purge is a JetStream request that has nats-server look through the stream for the
//! subject. Purging every channel published to twice a second, as this did before, cost nats-server
//! 30-45% more CPU per stored publish (docs/benchmarks.md, stop 27). Each channel waits out its own
//! delay, so the purges spread over time instead of coming in bursts.
//!
//! `Trims::appended` and `Trims::take` are pure (time passed in, what is due); `Trims::run` purges.

use std::time::{Duration, Instant};

use async_nats::jetstream::stream;
use dashmap::DashMap;

/// How long one purge may take before it is left for the next round.
const PURGE_DEADLINE: Duration = Duration::from_secs(2);

/// A channel appended to since its last purge: when that began, and the count its app keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Appended {
    since: Instant,
    keep: u64,
}

/// Channels (by subject) appended to since their last purge.
pub struct Trims {
    pending: DashMap<String, Appended>,
    /// How long after `Appended::since` a channel is purged.
    after: Duration,
}

impl Trims {
    pub fn new(after: Duration) -> Self {
        Trims {
            pending: DashMap::new(),
            after,
        }
    }

    /// A record was appended to `subject` at `now`; its app keeps its last `keep` messages.
    pub fn appended(&self, subject: &str, keep: u64, now: Instant) {
        if let Some(mut entry) = self.pending.get_mut(subject) {
            entry.keep = keep;
            return;
        }
        self.pending.insert(subject.to_string(), Appended { since: now, keep });
    }

    /// The channels due at `now`, each with the count to keep; they are forgotten here, so what is
    /// appended during their purge waits for the next one.
    fn take(&self, now: Instant) -> Vec<(String, u64)> {
        let mut due = Vec::new();
        self.pending.retain(|subject, appended| {
            let waiting = now.saturating_duration_since(appended.since) < self.after;
            if !waiting {
                due.push((subject.clone(), appended.keep));
            }
            waiting
        });
        due
    }

    /// Purges the channels due at `now`.
    pub async fn run(&self, stream: &stream::Stream, now: Instant) {
        for (subject, keep) in self.take(now) {
            purge(stream, &subject, keep).await;
        }
    }
}

async fn purge(stream: &stream::Stream, subject: &str, keep: u64) {
    match tokio::time::timeout(PURGE_DEADLINE, stream.purge().filter(subject).keep(keep)).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "cannot trim a channel's history to the app's retention"),
        Err(_) => tracing::warn!("trimming a channel's history to the app's retention timed out"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_secs(60);

    fn due(trims: &Trims, now: Instant) -> Vec<(String, u64)> {
        let mut taken = trims.take(now);
        taken.sort();
        taken
    }

    #[test]
    fn a_channel_is_purged_once_its_delay_is_out_however_often_it_is_appended_to() {
        let trims = Trims::new(AFTER);
        let t0 = Instant::now();
        for s in 0..59 {
            trims.appended("a", 100, t0 + Duration::from_secs(s));
        }
        assert!(
            due(&trims, t0 + Duration::from_secs(59)).is_empty(),
            "59 s after the first: not yet"
        );
        assert_eq!(due(&trims, t0 + AFTER), [("a".to_string(), 100)]);
        assert!(
            due(&trims, t0 + AFTER).is_empty(),
            "purged: forgotten until appended to again"
        );
    }

    #[test]
    fn the_delay_starts_again_with_the_first_record_after_a_purge() {
        let trims = Trims::new(AFTER);
        let t0 = Instant::now();
        trims.appended("a", 3, t0);
        assert_eq!(due(&trims, t0 + AFTER).len(), 1);
        let t1 = t0 + AFTER + Duration::from_secs(5);
        trims.appended("a", 3, t1);
        assert!(due(&trims, t1 + AFTER - Duration::from_secs(1)).is_empty());
        assert_eq!(due(&trims, t1 + AFTER), [("a".to_string(), 3)]);
    }

    #[test]
    fn each_channel_waits_out_its_own_delay_with_its_app_s_latest_count() {
        let trims = Trims::new(AFTER);
        let t0 = Instant::now();
        trims.appended("a", 100, t0);
        trims.appended("b", 5, t0 + Duration::from_secs(30));
        trims.appended("b", 4, t0 + Duration::from_secs(40));
        assert_eq!(due(&trims, t0 + AFTER), [("a".to_string(), 100)]);
        assert_eq!(due(&trims, t0 + Duration::from_secs(90)), [("b".to_string(), 4)]);
    }
}
