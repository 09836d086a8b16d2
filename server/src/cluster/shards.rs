//! The cluster's message shards: `message_shards` JetStream streams, each with a leader of its own
//! (on a NATS cluster, spread over its servers), and the stable choice of a channel's shard: CRC-32
//! of the app id and channel name, modulo the shard count. Shard 0 is the stream of a cluster
//! without shards, so `message_shards = 1` keeps the layout it had.
//!
//! Every node of a cluster must run with the same count: a channel's messages are chained in one
//! stream. Each shard has its own epoch, so a position stays `{epoch, serial}` of its channel.

use std::sync::Arc;
use std::time::Instant;

use super::store::MessageStore;
use super::subjects::Subjects;
use crate::channel_key::ChannelKey;
use crate::config::HistoryConfig;

/// Every message shard of the cluster.
pub struct MessageShards {
    shards: Vec<Arc<MessageStore>>,
}

impl MessageShards {
    /// `count` shards (at least one), their streams not opened yet.
    pub fn new(client: &async_nats::Client, subjects: &Subjects, limits: &HistoryConfig, count: usize) -> Self {
        let shards = (0..count.max(1))
            .map(|shard| {
                Arc::new(MessageStore::new(
                    client.clone(),
                    subjects.clone(),
                    limits.clone(),
                    shard,
                ))
            })
            .collect();
        MessageShards { shards }
    }

    /// The store of `key`'s shard.
    pub fn of(&self, key: &ChannelKey) -> &Arc<MessageStore> {
        &self.shards[shard_of(&key.app, key.channel.as_str(), self.shards.len())]
    }

    /// Opens every shard's stream in the background (see `MessageStore::open_in_background`).
    pub fn open_in_background(&self) {
        self.shards.iter().for_each(MessageStore::open_in_background);
    }

    /// True once every shard's stream is open.
    pub fn all_open(&self) -> bool {
        self.shards.iter().all(|s| s.opened_epoch().is_some())
    }

    /// Trims the channels due at `now`, in every shard.
    pub async fn trim(&self, now: Instant) {
        for shard in &self.shards {
            shard.trim(now).await;
        }
    }

    /// Forgets, in every shard, the chains of channels not published to since the last call.
    pub fn let_go_idle_chains(&self) {
        self.shards.iter().for_each(|shard| shard.let_go_idle_chains());
    }
}

/// The shard of a channel of an app among `count`: stable across nodes, versions and restarts.
pub fn shard_of(app: &str, channel: &str, count: usize) -> usize {
    if count <= 1 {
        return 0;
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(app.as_bytes());
    hasher.update(&[0]);
    hasher.update(channel.as_bytes());
    hasher.finalize() as usize % count
}

#[cfg(test)]
mod tests {
    use super::shard_of;

    #[test]
    fn the_shard_of_a_channel_is_fixed_and_channels_spread() {
        // Fixed values: a change here moves channels between streams in running clusters.
        assert_eq!(shard_of("1", "chat", 1), 0);
        let fixed: Vec<usize> = ["chat", "presence-room", "private-user-42"]
            .iter()
            .map(|c| shard_of("1", c, 3))
            .collect();
        assert_eq!(fixed, FIXED);
        let mut counts = [0usize; 3];
        for i in 0..3000 {
            counts[shard_of("app", &format!("channel-{i}"), 3)] += 1;
        }
        assert!(counts.iter().all(|n| (850..1150).contains(n)), "{counts:?}");
    }

    // CRC-32 (IEEE) of "1\0chat" and so on, modulo 3, as Python's zlib.crc32 gives them too.
    const FIXED: [usize; 3] = [2, 0, 1];
}
