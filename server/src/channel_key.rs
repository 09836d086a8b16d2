//! `ChannelKey`: one channel of one app, the key of every per-channel table (subscribers, history,
//! cache, counts, live subscriptions). Channel names are per app, so a name alone is never a key.
//!
//! Below the hub, the bus, history and the cluster: it depends on nothing of theirs.

use std::sync::Arc;

use crate::protocol::ChannelName;

/// A channel of an app.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelKey {
    pub app: Arc<str>,
    pub channel: ChannelName,
}

impl ChannelKey {
    pub fn new(app: Arc<str>, channel: ChannelName) -> Self {
        ChannelKey { app, channel }
    }

    /// The key of `channel` of `app`, cloning both (two reference-count increments).
    pub fn of(app: &Arc<str>, channel: &ChannelName) -> Self {
        ChannelKey::new(app.clone(), channel.clone())
    }
}
