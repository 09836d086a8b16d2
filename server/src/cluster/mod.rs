//! Cluster: nodes joined by NATS. Implements the `Bus` and answers questions only the whole cluster
//! can answer (channel counts, terminate a user everywhere).
//!
//! Owns the NATS connection and what flows over it: live channel messages (interest-based: a node
//! subscribes to a channel's subject only while it has local subscribers), presence changes and
//! snapshots, heartbeats (a node silent for `node_timeout` is dead and its members are removed),
//! scatter-gather queries and cluster-wide commands. It keeps no realtime state of its own: what it
//! receives goes to the hub. API messages are stored in JetStream (`store`) and reach nodes
//! republished on their live subjects, where each channel task fills gaps from the store (`live`);
//! client events and presence are core NATS (at most once).

mod chain;
mod events;
mod interest;
mod live;
mod nodes;
mod recent;
mod record;
mod shards;
mod store;
mod stored_channel;
mod streams;
mod subjects;
mod tail;
mod tasks;
mod trim;
mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use async_trait::async_trait;
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::bus::{Attach, Bus, BusError, Published, StoreOptions};
use crate::channel_key::ChannelKey;
use crate::clock::unix_ms;
use crate::config::{EventLogConfig, HistoryConfig};
use crate::connections::{ConnectionFilter, ConnectionView};
use crate::history::{self, Page, PageQuery, Retention, StartFrom};
use crate::hub::{frame_of, Decides, Decision, Hub, HubEvents};
use crate::message::{ChannelMessage, Origin};
use crate::nodes::{LocalNode, NodeStats, Nodes};
use crate::protocol::{ChannelName, CloseCode};
use crate::shutdown::Shutdown;
pub use events::JetStreamEvents;
use nodes::NodeTable;
use shards::MessageShards;
use subjects::Subjects;
use wire::{ChannelCounts, Control, Query};

/// How long a scatter-gather query waits for nodes that have not answered.
const QUERY_TIMEOUT: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("cannot connect to NATS at {url}: {message}")]
    Connect { url: String, message: String },
}

/// This node's membership of the cluster.
pub struct Cluster {
    client: async_nats::Client,
    node: Arc<str>,
    subjects: Subjects,
    nodes: Arc<NodeTable>,
    hub: Arc<Hub>,
    /// This node's own answers to the cluster's queries.
    local: Arc<LocalNode>,
    live: Arc<interest::LiveMap>,
    store: MessageShards,
    /// Counts NATS reconnections and slow-consumer drops; channel tasks then look for messages
    /// they missed.
    reconnects: Arc<watch::Sender<u64>>,
}

/// The first half of joining the cluster: connected to NATS, before the hub exists. What the
/// lifecycle log (`event_store`) and the webhooks (`decides`) need comes from here, so the hub
/// can be built with them; `start` then joins with the hub.
pub struct ClusterLink {
    client: async_nats::Client,
    node: Arc<str>,
    subjects: Subjects,
    nodes: Arc<NodeTable>,
    reconnects: Arc<watch::Sender<u64>>,
    reconnected: mpsc::UnboundedReceiver<()>,
}

impl ClusterLink {
    /// Connects to NATS (`urls`: one or more, comma-separated). The node keeps retrying a NATS it
    /// cannot reach, reporting not-ready meanwhile.
    pub async fn connect(node: Arc<str>, urls: &[String], prefix: &str) -> Result<Self, ClusterError> {
        let (reconnected_tx, reconnected) = mpsc::unbounded_channel();
        let reconnects = Arc::new(watch::Sender::new(0u64));
        let counter = reconnects.clone();
        let client = async_nats::ConnectOptions::new()
            .name(format!("herald-{node}"))
            .retry_on_initial_connect()
            .event_callback(move |event| {
                let tx = reconnected_tx.clone();
                let counter = counter.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            let _ = tx.send(());
                            counter.send_modify(|n| *n += 1);
                        }
                        // The client dropped messages it could not take in time: every channel
                        // checks the store for what it missed (presence heals with its next sync).
                        async_nats::Event::SlowConsumer(_) => counter.send_modify(|n| *n += 1),
                        _ => {}
                    }
                }
            })
            .connect(urls)
            .await
            .map_err(|e| ClusterError::Connect {
                url: urls.join(","),
                message: e.to_string(),
            })?;
        Ok(ClusterLink {
            client,
            node,
            subjects: Subjects::new(prefix),
            nodes: Arc::new(NodeTable::default()),
            reconnects,
            reconnected,
        })
    }

    /// The lifecycle log's store on this cluster's NATS.
    /// Its age limit is stream-wide, at least a minute.
    pub fn event_store(&self, config: &EventLogConfig) -> Arc<JetStreamEvents> {
        let max_age = config.max_age.max(Duration::from_secs(60));
        JetStreamEvents::start(self.client.clone(), self.subjects.clone(), max_age, config.max_bytes)
    }

    /// Whether this node decides cluster-wide events (webhooks): the live node with the lowest id,
    /// once it has listened long enough to have heard every other live node.
    pub fn decides(&self) -> Decides {
        let (nodes, me) = (self.nodes.clone(), self.node.clone());
        Arc::new(move || nodes.decision(&me, Instant::now()))
    }

    /// Joins the cluster with this node's hub and starts the cluster tasks.
    pub fn start(self, parts: ClusterParts, shutdown: Shutdown) -> Arc<Cluster> {
        let store = MessageShards::new(&self.client, &self.subjects, &parts.history, parts.history.shards);
        store.open_in_background();
        let cluster = Arc::new(Cluster {
            client: self.client,
            node: self.node,
            subjects: self.subjects,
            nodes: self.nodes,
            hub: parts.hub,
            local: parts.local,
            live: interest::new_map(),
            store,
            reconnects: self.reconnects,
        });
        let timeout = parts.node_timeout;
        tasks::spawn_all(cluster.clone(), parts.hub_events, self.reconnected, timeout, shutdown);
        cluster
    }
}

/// What joining the cluster needs from this node.
pub struct ClusterParts {
    pub hub: Arc<Hub>,
    /// The receiving end of the hub's events (interest, presence, counts).
    pub hub_events: HubEvents,
    /// This node's own answers to the cluster's queries.
    pub local: Arc<LocalNode>,
    pub node_timeout: Duration,
    /// The message stream's limits (apps may keep less; see `Retention`).
    pub history: HistoryConfig,
}

/// Every answer is gathered from the nodes that reply within the query timeout (this one included).
#[async_trait]
impl Nodes for Cluster {
    async fn channel_counts(&self, app: &Arc<str>, channel: Option<&ChannelName>) -> HashMap<ChannelName, usize> {
        let query = Query::Channels {
            app: app.clone(),
            channel: channel.cloned(),
        };
        let mut totals: HashMap<ChannelName, usize> = HashMap::new();
        for answer in self.gather::<ChannelCounts>(&query).await {
            for (name, count) in answer.channels {
                *totals.entry(name).or_default() += count;
            }
        }
        totals
    }

    async fn app_stats(&self, app: &Arc<str>) -> NodeStats {
        let mut total = NodeStats::default();
        for node in self.gather::<NodeStats>(&Query::Stats { app: app.clone() }).await {
            total.add(node);
        }
        total
    }

    async fn connections(&self, app: &Arc<str>, filter: &ConnectionFilter) -> Vec<ConnectionView> {
        let query = Query::Connections {
            app: app.clone(),
            filter: filter.clone(),
        };
        self.gather::<Vec<ConnectionView>>(&query)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    async fn disconnect(&self, app: &Arc<str>, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        let query = Query::Disconnect {
            app: app.clone(),
            socket_id: socket_id.to_string(),
            code: code.code(),
            reason: reason.to_string(),
        };
        self.gather::<bool>(&query).await.into_iter().any(|closed| closed)
    }

    /// Sent to every node as a command; nothing to gather.
    async fn terminate_user(&self, app: &Arc<str>, user: &str) -> Result<(), BusError> {
        let command = Control::Terminate {
            app: app.clone(),
            user: user.to_string(),
        };
        self.send(self.subjects.control(), &command).await
    }

    /// From the other nodes' last heartbeats (up to about a second old).
    fn connections_elsewhere(&self, app: &str, tenant: &str) -> (usize, usize) {
        self.nodes.connections(app, tenant)
    }
}

impl Cluster {
    pub fn node_id(&self) -> &str {
        &self.node
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == State::Connected
    }

    /// Whether this node decides cluster-wide events now (see `ClusterLink::decides`).
    fn decision(&self) -> Decision {
        self.nodes.decision(&self.node, Instant::now())
    }

    /// Asks every node (this one included) and collects the answers that come within the timeout,
    /// or until every node believed alive has answered.
    async fn gather<T: serde::de::DeserializeOwned>(&self, query: &Query) -> Vec<T> {
        let expected = self.nodes.others() + 1;
        let inbox = self.client.new_inbox();
        let Ok(mut replies) = self.client.subscribe(inbox.clone()).await else {
            return Vec::new();
        };
        let Ok(payload) = serde_json::to_vec(query) else {
            return Vec::new();
        };
        if self
            .client
            .publish_with_reply(self.subjects.query(), inbox, payload.into())
            .await
            .is_err()
        {
            return Vec::new();
        }
        let deadline = Instant::now() + QUERY_TIMEOUT;
        let mut answers = Vec::new();
        while answers.len() < expected {
            match tokio::time::timeout_at(deadline.into(), replies.next()).await {
                Ok(Some(msg)) => answers.extend(serde_json::from_slice::<T>(&msg.payload).ok()),
                _ => break,
            }
        }
        answers
    }

    async fn send<T: serde::Serialize>(&self, subject: String, value: &T) -> Result<(), BusError> {
        let payload = serde_json::to_vec(value).map_err(|e| BusError::failed("encoding a cluster message", e))?;
        self.client
            .publish(subject, payload.into())
            .await
            .map_err(|e| BusError::failed("publishing to NATS", e))
    }
}

#[async_trait]
impl Bus for Cluster {
    /// HTTP API messages are stored in JetStream, which republishes them to the channel's subject;
    /// client events go to that subject directly. Every node with subscribers on the channel (this
    /// one included) delivers from its subscription, so there is one path and no double delivery.
    async fn publish(&self, message: ChannelMessage, options: &StoreOptions) -> Result<Published, BusError> {
        // Without NATS nothing can be stored or carried: say so at once rather than after timeouts.
        if !self.connected() {
            return Err(BusError::Unavailable("not connected to NATS"));
        }
        if message.origin == Origin::Client {
            self.send(self.subjects.live(&message.app_id, &message.channel), &message)
                .await?;
            return Ok(Published {
                position: None,
                duplicate: false,
            });
        }
        let key = ChannelKey::of(&message.app_id, &message.channel);
        // The message goes into the channel's queue; a cache channel's is kept here as well.
        let cached = message.channel.is_cache().then(|| message.clone());
        let stored = self.store.of(&key).append(message, options).await?;
        if let (false, Some(mut message)) = (stored.duplicate, cached) {
            // This node keeps it before answering the publisher (so `info=cache` right after sees it);
            // the others keep it too, so a first subscriber anywhere gets it.
            (message.epoch, message.serial) = (stored.position.epoch, stored.position.serial);
            message.prev = stored.prev;
            self.hub.remember(&message, &frame_of(&message));
            self.send(self.subjects.cache(&self.node), &message).await?;
        }
        Ok(Published {
            position: Some(stored.position),
            duplicate: stored.duplicate,
        })
    }

    /// This node listens to the channel before the subscriber is attached (so an event published
    /// right after its `subscription_succeeded` is not missed), and the join in progress keeps the
    /// channel's subscription until the subscriber is in.
    async fn attach(&self, key: &ChannelKey, from: Option<StartFrom>, retention: Retention, attach: Attach) {
        self.join_interest(key).await;
        let (attached, done) = tokio::sync::oneshot::channel();
        let attach: Attach = Box::new(move |start| {
            attach(start);
            let _ = attached.send(());
        });
        let request = interest::AttachRequest {
            from,
            retention,
            attach,
        };
        self.attach_live(key, request).await;
        // Err: the channel's task ended with the request unanswered (it will never run).
        let _ = done.await;
        self.joined(key).await;
    }

    async fn history(&self, key: &ChannelKey, query: PageQuery, retention: Retention) -> Result<Page, BusError> {
        let store = self.store.of(key);
        let last = store.last_serial(key).await?.unwrap_or(0);
        let reader = store.reader(key).await?;
        let mut page = history::page(&reader, last, query, retention, unix_ms()).await?;
        page.epoch = store.epoch().await?;
        Ok(page)
    }

    /// Connected to NATS, and every message stream is open (a stream being created with several
    /// replicas can take seconds to elect its leader: publishes would wait on it meanwhile).
    fn is_ready(&self) -> bool {
        self.connected() && self.store.all_open()
    }
}
