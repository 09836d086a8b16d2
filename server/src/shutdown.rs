//! Graceful shutdown: one token that every task holds, cancelled once on SIGTERM or SIGINT.
//!
//! On shutdown the listener stops accepting, every WebSocket session sends close code 4200 so its
//! client reconnects elsewhere, and `main` waits (bounded) for the sessions to drain.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// A handle on the node's shutdown: cheap to clone, one per task.
#[derive(Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    sessions: TaskTracker,
}

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Completes when shutdown has started.
    pub async fn stopping(&self) {
        self.token.cancelled().await
    }

    /// Tracks a session task so `drain` can wait for it.
    pub fn tracker(&self) -> &TaskTracker {
        &self.sessions
    }

    /// Waits up to `grace` for every tracked session to end.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.sessions.close();
        tokio::time::timeout(grace, self.sessions.wait()).await.is_ok()
    }
}

/// Completes on SIGTERM or SIGINT.
pub async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
