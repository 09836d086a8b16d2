//! The per-app stats series behind the console's charts: every few seconds this node samples each
//! app's connections and running message totals (`LocalNode`), and once a minute is over writes one
//! row per app that had any traffic (`minute`); reads sum every node's rows and shape them into a
//! chart's buckets (`series`). Rows older than the retention are pruned.
//!
//! Owns the sampling task only; the figures come from the hub and the publisher.

pub mod minute;
pub mod series;

use std::sync::Arc;
use std::time::Duration;

use crate::apps::AppDirectory;
use crate::clock::unix_ms;
use crate::nodes::LocalNode;
use crate::shutdown::Shutdown;
use crate::store::ControlStore;
use minute::{Minutes, Sample};

/// How often figures are sampled (the minute's peak is the highest sample).
const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How often old rows are removed.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Starts sampling this node's figures into the store until shutdown; rows older than `retention`
/// go.
pub fn spawn_sampler(
    local: Arc<LocalNode>,
    apps: Arc<AppDirectory>,
    store: Arc<dyn ControlStore>,
    retention: Duration,
    shutdown: Shutdown,
) {
    tokio::spawn(async move {
        let mut minutes = Minutes::default();
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        let mut next_prune = tokio::time::Instant::now();
        loop {
            tokio::select! {
                _ = shutdown.stopping() => return,
                _ = tick.tick() => {}
            }
            let figures: Vec<(String, Sample)> = apps
                .app_ids()
                .into_iter()
                .map(|app| {
                    let stats = local.local_figures(&app);
                    let sample = Sample {
                        connections: stats.connections as u64,
                        messages_in: stats.messages_in,
                        messages_out: stats.messages_out,
                    };
                    (app, sample)
                })
                .collect();
            let rows = minutes.sample(unix_ms(), local.id(), &figures);
            if let Err(e) = store.record_stats(&rows).await {
                tracing::warn!(error = %e, rows = rows.len(), "stats: cannot keep a minute's figures");
            }
            if tokio::time::Instant::now() >= next_prune {
                next_prune = tokio::time::Instant::now() + PRUNE_EVERY;
                let before = unix_ms() - retention.as_millis() as i64;
                if let Err(e) = store.prune_stats(before).await {
                    tracing::warn!(error = %e, "stats: cannot remove old figures");
                }
            }
        }
    });
}
