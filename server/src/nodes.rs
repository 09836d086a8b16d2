//! `Nodes`: what the admin API and the Pusher HTTP API ask of "the nodes" — this node alone, or
//! every node of the cluster — behind one trait, chosen once when the node is built.
//!
//! `LocalNode` answers from this node's hub; it is the whole answer on a single node, and each
//! node's own share of the answer in a cluster (`cluster::Cluster` gathers the shares over NATS
//! and implements `Nodes` too). Owns no state of its own beyond the count of accepted messages;
//! does not decide webhooks (the hub's `Observers` do) and carries no messages (the `Bus` does).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::bus::BusError;
use crate::clock::unix_ms;
use crate::connections::{local_views, ConnectionFilter, ConnectionView};
use crate::hub::Hub;
use crate::per_app::PerAppCounter;
use crate::protocol::{ChannelName, CloseCode};

/// Live figures for an app, of one node or summed over the cluster.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct NodeStats {
    pub connections: usize,
    pub channels: Vec<ChannelName>,
    pub messages_in: u64,
    pub messages_out: u64,
}

impl NodeStats {
    /// Adds another node's figures (channels occupied on both count once).
    pub fn add(&mut self, other: NodeStats) {
        self.connections += other.connections;
        self.messages_in += other.messages_in;
        self.messages_out += other.messages_out;
        self.channels.extend(other.channels);
        self.channels.sort();
        self.channels.dedup();
    }
}

/// The questions only every node together can answer. A cluster's answers are gathered from the
/// nodes that reply within its query timeout.
#[async_trait]
pub trait Nodes: Send + Sync + 'static {
    /// Subscribers per occupied channel of an app (or of one channel).
    async fn channel_counts(&self, app: &Arc<str>, channel: Option<&ChannelName>) -> HashMap<ChannelName, usize>;
    /// An app's live figures.
    async fn app_stats(&self, app: &Arc<str>) -> NodeStats;
    /// Views of an app's connections that pass `filter`.
    async fn connections(&self, app: &Arc<str>, filter: &ConnectionFilter) -> Vec<ConnectionView>;
    /// Closes one connection of an app wherever it is; false when none has it.
    async fn disconnect(&self, app: &Arc<str>, socket_id: &str, code: CloseCode, reason: &str) -> bool;
    /// Closes the connections signed in as `user`.
    async fn terminate_user(&self, app: &Arc<str>, user: &str) -> Result<(), BusError>;
    /// Connections of `app` and of `tenant` on the other nodes, as last reported (never waits).
    fn connections_elsewhere(&self, app: &str, tenant: &str) -> (usize, usize);
}

/// This node: its hub, and the messages accepted here.
pub struct LocalNode {
    id: Arc<str>,
    hub: Arc<Hub>,
    accepted: Arc<PerAppCounter>,
}

impl LocalNode {
    pub fn new(id: Arc<str>, hub: Arc<Hub>, accepted: Arc<PerAppCounter>) -> Self {
        LocalNode { id, hub, accepted }
    }

    pub fn id(&self) -> &Arc<str> {
        &self.id
    }

    /// This node's subscribers per occupied channel of an app (or of one channel).
    pub fn local_channel_counts(&self, app: &str, channel: Option<&ChannelName>) -> Vec<(ChannelName, usize)> {
        self.hub
            .channels
            .channels_of(app)
            .into_iter()
            .filter(|(name, _, _)| channel.is_none_or(|c| c == name))
            .map(|(name, subscribers, _)| (name, subscribers))
            .collect()
    }

    /// This node's live figures for an app.
    pub fn local_stats(&self, app: &str) -> NodeStats {
        let channels = self.local_channel_counts(app, None).into_iter().map(|(name, _)| name);
        NodeStats {
            channels: channels.collect(),
            ..self.local_figures(app)
        }
    }

    /// This node's connections and message totals for an app, without its channels (cheap: no walk
    /// over the node's channels).
    pub fn local_figures(&self, app: &str) -> NodeStats {
        NodeStats {
            connections: self.hub.app_connection_count(app),
            channels: Vec::new(),
            messages_in: self.accepted.get(app),
            messages_out: self.hub.delivered(app),
        }
    }

    /// This node's connections of an app that pass `filter`.
    pub fn local_connections(&self, app: &str, filter: &ConnectionFilter) -> Vec<ConnectionView> {
        local_views(&self.hub, app, &self.id, filter, unix_ms())
    }

    /// Closes one of this node's connections; false when it has none by that id.
    pub fn local_disconnect(&self, app: &str, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        self.hub.disconnect(app, socket_id, code, reason)
    }

    /// Closes this node's connections signed in as `user`.
    pub fn local_terminate_user(&self, app: &Arc<str>, user: &str) {
        self.hub.terminate_user(app, user);
    }
}

/// A single node: every answer is this node's.
#[async_trait]
impl Nodes for LocalNode {
    async fn channel_counts(&self, app: &Arc<str>, channel: Option<&ChannelName>) -> HashMap<ChannelName, usize> {
        self.local_channel_counts(app, channel).into_iter().collect()
    }

    async fn app_stats(&self, app: &Arc<str>) -> NodeStats {
        self.local_stats(app)
    }

    async fn connections(&self, app: &Arc<str>, filter: &ConnectionFilter) -> Vec<ConnectionView> {
        self.local_connections(app, filter)
    }

    async fn disconnect(&self, app: &Arc<str>, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        self.local_disconnect(app, socket_id, code, reason)
    }

    async fn terminate_user(&self, app: &Arc<str>, user: &str) -> Result<(), BusError> {
        self.local_terminate_user(app, user);
        Ok(())
    }

    fn connections_elsewhere(&self, _app: &str, _tenant: &str) -> (usize, usize) {
        (0, 0)
    }
}
