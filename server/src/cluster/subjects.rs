//! NATS subjects of a cluster, all under one prefix so clusters (and tests) can share a NATS server.
//!
//! A channel becomes one subject token: Pusher names never contain `%`, NATS tokens cannot contain
//! `.`, so `.` is written as `%` (injective and reversible).

use std::borrow::Cow;

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
        self.channel_subject("live", app_id, channel)
    }

    /// Stored messages of one channel in message shard `shard`: the shard's JetStream stream
    /// captures them and republishes each to the channel's live subject once it is stored. Shard 0
    /// has the subjects of a cluster without shards (`msg`), shard k `msgk`.
    pub fn stored(&self, shard: usize, app_id: &str, channel: &ChannelName) -> String {
        self.channel_subject(&shard_token(shard), app_id, channel)
    }

    /// `{prefix}.{kind}.{app}.{channel}`, the channel as one token. Built by hand: it is on every
    /// publish's path, and `format!` with a `replace` cost three allocations where one does.
    fn channel_subject(&self, kind: &str, app_id: &str, channel: &ChannelName) -> String {
        let channel = channel.as_str();
        let mut subject = String::with_capacity(self.prefix.len() + kind.len() + app_id.len() + channel.len() + 3);
        for part in [self.prefix.as_str(), ".", kind, ".", app_id, "."] {
            subject.push_str(part);
        }
        for (i, part) in channel.split('.').enumerate() {
            if i > 0 {
                subject.push('%');
            }
            subject.push_str(part);
        }
        subject
    }

    /// A shard's stream's subjects, and where it republishes them.
    pub fn stored_all(&self, shard: usize) -> (String, String) {
        (
            format!("{}.{}.>", self.prefix, shard_token(shard)),
            format!("{}.live.>", self.prefix),
        )
    }

    /// The JetStream stream of a message shard (stream names allow no `.`): shard 0 is the stream
    /// of a cluster without shards.
    pub fn stream_name(&self, shard: usize) -> String {
        match shard {
            0 => self.messages_stream(),
            k => format!("{}_{k}", self.messages_stream()),
        }
    }

    fn messages_stream(&self) -> String {
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
}

/// The subject token of a message shard's stored messages.
fn shard_token(shard: usize) -> Cow<'static, str> {
    match shard {
        0 => Cow::Borrowed("msg"),
        k => Cow::Owned(format!("msg{k}")),
    }
}

impl Subjects {
    /// Lifecycle events of an app (captured by the events stream; live readers subscribe).
    pub fn events(&self, app_id: &str) -> String {
        format!("{}.evt.{app_id}", self.prefix)
    }

    /// The lifecycle events stream and its subjects.
    pub fn events_stream(&self) -> (String, String) {
        let name = self.messages_stream().replace("_MESSAGES", "_EVENTS");
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
        assert_eq!(s.stored(0, "42", &c), "t1.msg.42.private-a%b%c");
        assert_eq!(s.stored(2, "42", &c), "t1.msg2.42.private-a%b%c");
        assert_eq!(s.stored_all(2).0, "t1.msg2.>");
        assert_eq!(Subjects::new("ht-9.x").stream_name(0), "HT_9_X_MESSAGES");
        assert_eq!(Subjects::new("ht-9.x").stream_name(3), "HT_9_X_MESSAGES_3");
        assert_eq!(Subjects::new("ht-9.x").events_stream().0, "HT_9_X_EVENTS");
    }
}
