//! How much memory the embedded history may hold: bytes counted per app and for the node, and the
//! choice of whom to trim when a budget is passed. An app over its own budget loses its oldest
//! messages; a node over its budget trims the app holding the most, so one tenant publishing large
//! messages to many channels cannot push the others' history out, nor the process over. A trimmed
//! message is gone as if it had aged out: a resume that needed it is answered `recovered: false`
//! (expired). Pure accounting; the trimming itself is `MemoryHistory`'s.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::message::ChannelMessage;

/// Bytes a kept message is counted for beyond its data, event and channel name (the message's
/// fields, its `Arc`, its place in the channel's queue).
const OVERHEAD: usize = 160;

/// The budgets: bytes of kept messages per app and for the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryBudget {
    pub node_bytes: usize,
    pub app_bytes: usize,
}

impl Default for HistoryBudget {
    fn default() -> Self {
        HistoryBudget {
            node_bytes: 512 * 1024 * 1024,
            app_bytes: 128 * 1024 * 1024,
        }
    }
}

/// The bytes a message is counted for.
pub fn size_of(message: &ChannelMessage) -> usize {
    message.content_bytes() + message.channel.as_str().len() + OVERHEAD
}

/// Bytes kept, per app and in all.
#[derive(Default)]
pub struct Accounts {
    total: AtomicUsize,
    apps: DashMap<Arc<str>, AtomicUsize>,
}

impl Accounts {
    /// An app's messages went from `before` to `after` bytes in one of its channels.
    pub fn changed(&self, app: &Arc<str>, before: usize, after: usize) {
        if before == after {
            return;
        }
        let account = match self.apps.get(app) {
            Some(a) => a,
            None => self.apps.entry(app.clone()).or_default().downgrade(),
        };
        if after > before {
            account.fetch_add(after - before, Ordering::Relaxed);
            self.total.fetch_add(after - before, Ordering::Relaxed);
        } else {
            account.fetch_sub(before - after, Ordering::Relaxed);
            self.total.fetch_sub(before - after, Ordering::Relaxed);
        }
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn of(&self, app: &str) -> usize {
        self.apps.get(app).map(|a| a.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// The app to trim next and the bytes it should be brought down to (nine tenths of what it
    /// must be under, so trimming does not run on every publish), or `None` when all is within
    /// budget.
    pub fn next_trim(&self, budget: HistoryBudget) -> Option<(Arc<str>, usize)> {
        let target = |limit: usize| limit / 10 * 9;
        let (largest, bytes) = self
            .apps
            .iter()
            .map(|a| (a.key().clone(), a.value().load(Ordering::Relaxed)))
            .max_by_key(|(_, bytes)| *bytes)?;
        if bytes > budget.app_bytes {
            return Some((largest, target(budget.app_bytes)));
        }
        let total = self.total();
        if total > budget.node_bytes {
            let excess = total - target(budget.node_bytes);
            return Some((largest, bytes.saturating_sub(excess)));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BUDGET: HistoryBudget = HistoryBudget {
        node_bytes: 1_000,
        app_bytes: 600,
    };

    #[test]
    fn an_app_over_its_budget_is_trimmed_to_nine_tenths_of_it() {
        let a = Accounts::default();
        let (x, y): (Arc<str>, Arc<str>) = ("x".into(), "y".into());
        a.changed(&x, 0, 500);
        a.changed(&y, 0, 100);
        assert_eq!(a.next_trim(BUDGET), None);
        a.changed(&x, 500, 700);
        assert_eq!(a.next_trim(BUDGET), Some((x.clone(), 540)));
        a.changed(&x, 700, 540);
        assert_eq!((a.of("x"), a.total()), (540, 640));
    }

    #[test]
    fn a_node_over_its_budget_trims_the_largest_app() {
        let a = Accounts::default();
        let (x, y, z): (Arc<str>, Arc<str>, Arc<str>) = ("x".into(), "y".into(), "z".into());
        a.changed(&x, 0, 550);
        a.changed(&y, 0, 300);
        a.changed(&z, 0, 250);
        // 1100 in all, over 1000: the largest gives back what brings the node to 900.
        assert_eq!(a.next_trim(BUDGET), Some((x, 350)));
    }
}
