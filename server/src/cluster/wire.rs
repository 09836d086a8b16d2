//! What nodes say to each other on the bus, as JSON.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::connections::ConnectionFilter;

use crate::hub::Member;
use crate::protocol::ChannelName;

/// Presence as one node reports it.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum PresenceEvent {
    /// A user's first socket on `node` joined a presence channel.
    Join {
        node: Arc<str>,
        app: Arc<str>,
        channel: ChannelName,
        member: Member,
    },
    /// A user's last socket on `node` left.
    Leave {
        node: Arc<str>,
        app: Arc<str>,
        channel: ChannelName,
        user: Arc<str>,
    },
    /// A user's first connection on `node` signed in.
    Online {
        node: Arc<str>,
        app: Arc<str>,
        user: Arc<str>,
    },
    /// A user's last signed-in connection on `node` went.
    Offline {
        node: Arc<str>,
        app: Arc<str>,
        user: Arc<str>,
    },
    /// Everything `node` holds now (presence members, signed-in users, subscriber counts of the
    /// apps that share them); replaces what others knew of it.
    Sync {
        node: Arc<str>,
        channels: Vec<(Arc<str>, ChannelName, Vec<Member>)>,
        #[serde(default)]
        users: Vec<(Arc<str>, Arc<str>)>,
        #[serde(default)]
        counts: Vec<(Arc<str>, ChannelName, usize)>,
    },
    /// `node` now has `count` subscribers on `channel` (apps with subscription counting only).
    Count {
        node: Arc<str>,
        app: Arc<str>,
        channel: ChannelName,
        count: usize,
    },
    /// A node (re)joined and asks every node for a `Sync`.
    Resync { node: Arc<str> },
}

/// "I am alive", with this node's connections per app and tenant (for cluster-wide quotas).
#[derive(Debug, Serialize, Deserialize)]
pub struct Heartbeat {
    pub node: Arc<str>,
    #[serde(default)]
    pub apps: Vec<(Arc<str>, usize)>,
    #[serde(default)]
    pub tenants: Vec<(Arc<str>, usize)>,
}

/// A scatter-gather question.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "q", rename_all = "snake_case")]
pub enum Query {
    /// Local subscriber counts of an app's channels (one channel when given).
    /// One app's live figures on each node.
    Stats { app: Arc<str> },
    Channels {
        app: Arc<str>,
        channel: Option<ChannelName>,
    },
    /// Views of an app's connections that pass the filter.
    Connections { app: Arc<str>, filter: ConnectionFilter },
    /// Close one connection; the node that holds it answers true.
    Disconnect {
        app: Arc<str>,
        socket_id: String,
        code: u16,
        reason: String,
    },
}

/// One node's answer to `Query::Channels`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ChannelCounts {
    pub node: Arc<str>,
    pub channels: Vec<(ChannelName, usize)>,
}

/// A command every node carries out.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Control {
    Terminate { app: Arc<str>, user: String },
}
