//! The one place where this node's kind is decided: alone (an in-process bus, the lifecycle log in
//! the control store) or a member of a cluster (NATS carries messages and answers for every node).
//!
//! Startup asks `Topology` for each part in dependency order — the lifecycle log's store and who
//! decides webhooks before the hub, the bus and `Nodes` after it — so nothing is set after
//! construction and no other module asks which kind of node it runs on.

use std::sync::Arc;
use tokio::sync::mpsc;

use crate::bus::{Bus, LocalBus};
use crate::cluster::{ClusterError, ClusterLink, ClusterParts};
use crate::config::Config;
use crate::history::open_history;
use crate::hub::{Decides, Decision, Hub, HubEvent, HubEvents};
use crate::lifecycle::{EventStore, SqlEvents};
use crate::nodes::{LocalNode, Nodes};
use crate::shutdown::Shutdown;
use crate::store::ControlStore;

/// What joining gives: the bus that carries messages and the `Nodes` that answer for every node.
pub type Joined = (Arc<dyn Bus>, Arc<dyn Nodes>);

/// This node alone, or connected to its cluster.
pub enum Topology {
    Single,
    Cluster {
        link: Box<ClusterLink>,
        /// The hub's events, sent by the hub and applied by the cluster layer.
        hub_events: (mpsc::UnboundedSender<HubEvent>, HubEvents),
    },
}

impl Topology {
    /// A cluster member when `nats_url` is set (connected to NATS), a single node otherwise.
    pub async fn connect(config: &Config, node: &Arc<str>) -> Result<Self, ClusterError> {
        let Some(cluster) = &config.cluster else {
            return Ok(Topology::Single);
        };
        let link = ClusterLink::connect(node.clone(), &cluster.nats_urls, &cluster.prefix).await?;
        tracing::info!(node = %node, prefix = %cluster.prefix, "joined the cluster");
        Ok(Topology::Cluster {
            link: Box::new(link),
            hub_events: mpsc::unbounded_channel(),
        })
    }

    /// Where the lifecycle log keeps its events: the control store, or the cluster's stream.
    pub fn event_store(&self, config: &Config, store: Arc<dyn ControlStore>) -> Arc<dyn EventStore> {
        match self {
            Topology::Single => SqlEvents::start(store, &config.event_log),
            Topology::Cluster { link, .. } => link.event_store(&config.event_log),
        }
    }

    /// Whether this node decides cluster-wide webhook events: always when alone.
    pub fn decides(&self) -> Decides {
        match self {
            Topology::Single => Arc::new(|| Decision::Decides),
            Topology::Cluster { link, .. } => link.decides(),
        }
    }

    /// Where the hub sends its events: nowhere when alone.
    pub fn hub_events(&self) -> Option<mpsc::UnboundedSender<HubEvent>> {
        match self {
            Topology::Single => None,
            Topology::Cluster { hub_events, .. } => Some(hub_events.0.clone()),
        }
    }

    /// Joins with the hub: the bus that carries messages and the `Nodes` that answer for every node.
    /// Alone, the history is opened here (read back from its journal when it is on disk).
    pub fn join(
        self,
        hub: &Arc<Hub>,
        local: Arc<LocalNode>,
        config: &Config,
        shutdown: &Shutdown,
    ) -> Result<Joined, std::io::Error> {
        match (self, &config.cluster) {
            (Topology::Cluster { link, hub_events }, Some(cluster)) => {
                let parts = ClusterParts {
                    hub: hub.clone(),
                    hub_events: hub_events.1,
                    local,
                    node_timeout: cluster.node_timeout,
                    history: cluster.history.clone(),
                };
                let cluster = link.start(parts, shutdown.clone());
                Ok((cluster.clone(), cluster))
            }
            (_, _) => {
                let history = open_history(&config.history_storage, config.history_budget, shutdown)?;
                Ok((Arc::new(LocalBus::new(hub.clone(), history)), local))
            }
        }
    }
}
