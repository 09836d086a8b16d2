//! Hourly upkeep of the control store that no request path does: the audit log is pruned by age, so
//! it cannot grow without bound (failed logins write to it, and anyone can fail a login).

use std::sync::Arc;
use std::time::Duration;

use crate::clock::unix_secs;
use crate::shutdown::Shutdown;
use crate::store::ControlStore;

const EVERY: Duration = Duration::from_secs(3600);

/// Prunes audit entries older than `audit_retention`, now and every hour, until shutdown.
pub fn spawn(store: Arc<dyn ControlStore>, audit_retention: Duration, shutdown: Shutdown) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        loop {
            tokio::select! {
                _ = shutdown.stopping() => return,
                _ = tick.tick() => {}
            }
            let before = unix_secs() - audit_retention.as_secs() as i64;
            match store.prune_audit(before).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed old audit entries"),
                Err(e) => tracing::warn!(error = %e, "cannot remove old audit entries"),
            }
        }
    });
}
