//! The state every handler shares, as an `axum::extract::State`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::admin::AdminAuth;
use crate::apps::AppDirectory;
use crate::bus::BusError;
use crate::cluster::{Cluster, NodeStats};
use crate::config::Config;
use crate::hub::Hub;
use crate::protocol::ChannelName;
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
