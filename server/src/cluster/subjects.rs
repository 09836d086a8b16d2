//! NATS subjects of a cluster, all under one prefix so clusters (and tests) can share a NATS server.
//!
//! A channel becomes one subject token: Pusher names never contain `%`, NATS tokens cannot contain
//! `.`, so `.` is written as `%` (injective and reversible).

use crate::protocol::ChannelName;

#[derive(Clone, Debug)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Subjects {
            prefix: prefix.trim_matches('.').to_string(),
        }
    }

    /// Live messages of one channel; only nodes with subscribers on it subscribe.
    pub fn live(&self, app_id: &str, channel: &ChannelName) -> String {
        format!("{}.live.{}.{}", self.prefix, app_id, channel.as_str().replace('.', "%"))
    }

    /// Stored messages of one channel: the JetStream stream captures them and republishes each to
    /// the channel's live subject once it is stored.
    pub fn stored(&self, app_id: &str, channel: &ChannelName) -> String {
        format!("{}.msg.{}.{}", self.prefix, app_id, channel.as_str().replace('.', "%"))
    }

    /// The stream's subjects, and where it republishes them.
    pub fn stored_all(&self) -> (String, String) {
        (format!("{}.msg.>", self.prefix), format!("{}.live.>", self.prefix))
    }

    /// The JetStream stream of this prefix's messages (stream names allow no `.`).
    pub fn stream_name(&self) -> String {
        let token: String = self
            .prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect();
        format!("{token}_MESSAGES")
    }

    /// Lifecycle events of an app (captured by the events stream; live readers subscribe).
    pub fn events(&self, app_id: &str) -> String {
        format!("{}.evt.{app_id}", self.prefix)
    }

    /// The lifecycle events stream and its subjects.
    pub fn events_stream(&self) -> (String, String) {
        let name = self.stream_name().replace("_MESSAGES", "_EVENTS");
        (name, format!("{}.evt.>", self.prefix))
    }

    /// Presence changes and snapshots; every node subscribes.
    pub fn presence(&self) -> String {
        format!("{}.presence", self.prefix)
    }

    /// Cache channels' events published through `node`; every node subscribes to all of them
    /// (`cache_all`) and keeps the last one per channel.
    pub fn cache(&self, node: &str) -> String {
        format!("{}.cache.{node}", self.prefix)
    }

    pub fn cache_all(&self) -> String {
        format!("{}.cache.*", self.prefix)
    }

    /// A subject nobody subscribes to: requests to it come back as "no responders" (a round trip).
    pub fn probe(&self, node: &str) -> String {
        format!("{}.probe.{node}", self.prefix)
    }

    /// Node heartbeats; every node subscribes.
    pub fn heartbeat(&self) -> String {
        format!("{}.hb", self.prefix)
    }

    /// Scatter-gather queries: every node answers.
    pub fn query(&self) -> String {
        format!("{}.query", self.prefix)
    }

    /// Cluster-wide commands (terminate a user's connections).
    pub fn control(&self) -> String {
        format!("{}.control", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_is_one_token() {
        let s = Subjects::new("t1.");
        let c = ChannelName::parse("private-a.b.c").unwrap();
        assert_eq!(s.live("42", &c), "t1.live.42.private-a%b%c");
        assert_eq!(s.live("42", &c).split('.').count(), 4);
        assert_eq!(s.presence(), "t1.presence");
        assert_eq!(s.stored("42", &c), "t1.msg.42.private-a%b%c");
        assert_eq!(Subjects::new("ht-9.x").stream_name(), "HT_9_X_MESSAGES");
    }
}
