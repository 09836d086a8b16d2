//! Trimming channels to their app's retention, off the publish path. The stream keeps at most
//! `history_size` messages per channel; an app that keeps fewer has its channels purged down to its
//! own count. A publish only marks its channel; a cluster task purges the marked channels twice a
//! second, and a read of a marked channel purges it first, so reads see exactly the app's last
//! `history_max_messages` (a publish racing with the read aside) without a purge per publish.

use std::time::Duration;

use async_nats::jetstream::stream;
use dashmap::DashMap;

/// How long one purge may take before it is left for the next round.
const PURGE_DEADLINE: Duration = Duration::from_secs(2);

/// Channels (by subject) waiting to be trimmed, with the count to keep.
#[derive(Default)]
pub struct Trims {
    pending: DashMap<String, u64>,
}

impl Trims {
    /// `subject` was appended to and should keep only its last `keep` messages.
    pub fn mark(&self, subject: &str, keep: u64) {
        if let Some(mut entry) = self.pending.get_mut(subject) {
            *entry = keep;
            return;
        }
        self.pending.insert(subject.to_string(), keep);
    }

    /// Trims `subject` now if it is waiting to be (before it is read).
    pub async fn settle(&self, stream: &stream::Stream, subject: &str) {
        if let Some((subject, keep)) = self.pending.remove(subject) {
            purge(stream, &subject, keep).await;
        }
    }

    /// Trims every channel waiting to be.
    pub async fn run(&self, stream: &stream::Stream) {
        let subjects: Vec<String> = self.pending.iter().map(|e| e.key().clone()).collect();
        for subject in subjects {
            self.settle(stream, &subject).await;
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
