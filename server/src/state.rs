//! The state every handler shares, as an `axum::extract::State`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::admin::AdminAuth;
use crate::apps::AppDirectory;
use crate::bus::BusError;
use crate::clock::unix_ms;
use crate::cluster::{Cluster, NodeStats};
use crate::config::Config;
use crate::connections::{local_views, ConnectionFilter, ConnectionView};
use crate::hub::Hub;
use crate::lifecycle::LifecycleLog;
use crate::protocol::{ChannelName, CloseCode};
use crate::publish::Publisher;
use crate::quota::DailyQuota;
use crate::shutdown::Shutdown;
use crate::store::ControlStore;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub apps: Arc<AppDirectory>,
    pub hub: Arc<Hub>,
    pub publisher: Arc<Publisher>,
    pub store: Arc<dyn ControlStore>,
    pub shutdown: Shutdown,
    pub quota: Arc<DailyQuota>,
    pub admin: Arc<AdminAuth>,
    /// This node's cluster membership; `None` on a single node.
    pub cluster: Option<Arc<Cluster>>,
    /// This node's id (the cluster's name for it).
    pub node_id: Arc<str>,
    /// The lifecycle log (connections, subscriptions, publishes, webhooks).
    pub events: Arc<LifecycleLog>,
}

impl AppState {
    /// Subscribers per occupied channel of an app (or of one channel), over the whole cluster.
    pub async fn subscriber_counts(
        &self,
        app_id: &Arc<str>,
        channel: Option<&ChannelName>,
    ) -> HashMap<ChannelName, usize> {
        match &self.cluster {
            Some(cluster) => cluster.channel_counts(app_id, channel).await,
            None => self
                .hub
                .channels
                .channels_of(app_id)
                .into_iter()
                .filter(|(name, _, _)| channel.is_none_or(|c| c == name))
                .map(|(name, subs, _)| (name, subs))
                .collect(),
        }
    }

    /// This node's live figures for an app.
    pub fn local_stats(hub: &Hub, publisher: &Publisher, app_id: &str) -> NodeStats {
        NodeStats {
            connections: hub.app_connection_count(app_id),
            channels: hub
                .channels
                .channels_of(app_id)
                .into_iter()
                .map(|(name, _, _)| name)
                .collect(),
            messages_in: publisher.accepted(app_id),
            messages_out: hub.delivered(app_id),
        }
    }

    /// An app's live figures over the whole cluster (this node's on a single node).
    pub async fn app_stats(&self, app_id: &Arc<str>) -> NodeStats {
        match &self.cluster {
            Some(cluster) => cluster.app_stats(app_id).await,
            None => Self::local_stats(&self.hub, &self.publisher, app_id),
        }
    }

    /// Views of an app's connections that pass `filter`, over the whole cluster.
    pub async fn connections(&self, app_id: &Arc<str>, filter: &ConnectionFilter) -> Vec<ConnectionView> {
        match &self.cluster {
            Some(cluster) => cluster.connections(app_id, filter).await,
            None => local_views(&self.hub, app_id, &self.node_id, filter, unix_ms()),
        }
    }

    /// Closes one connection of an app wherever it is; false when none has it.
    pub async fn disconnect(&self, app_id: &Arc<str>, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        match &self.cluster {
            Some(cluster) => cluster.disconnect(app_id, socket_id, code, reason).await,
            None => self.hub.disconnect(app_id, socket_id, code, reason),
        }
    }

    /// Closes the connections signed in as `user_id`, on every node.
    pub async fn terminate_user(&self, app_id: &Arc<str>, user_id: &str) -> Result<(), BusError> {
        match &self.cluster {
            Some(cluster) => cluster.terminate_user(app_id, user_id).await,
            None => {
                self.hub.terminate_user(app_id, user_id);
                Ok(())
            }
        }
    }
}
