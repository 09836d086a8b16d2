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

mod events;
mod live;
mod nodes;
mod recent;
mod store;
mod streams;
mod subjects;
mod tail;
mod tasks;
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
use crate::connections::{ConnectionFilter, ConnectionView};
use crate::history::{self, Page, PageQuery, Retention, StartFrom};
use crate::hub::{frame_of, Decision, Hub, HubEvent};
use crate::message::{ChannelMessage, Origin};
use crate::protocol::{ChannelName, CloseCode};
use crate::shutdown::Shutdown;
pub use events::JetStreamEvents;
use nodes::NodeTable;
use store::MessageStore;
pub use store::StreamLimits;
use subjects::Subjects;
pub use wire::NodeStats;
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
    nodes: NodeTable,
    hub: Arc<Hub>,
    live: Arc<live::LiveMap>,
    store: Arc<MessageStore>,
    /// Counts NATS reconnections and slow-consumer drops; channel tasks then look for messages
    /// they missed.
    reconnects: Arc<watch::Sender<u64>>,
    stats_source: std::sync::OnceLock<StatsSource>,
}

/// This node's live figures for an app.
pub type StatsSource = Arc<dyn Fn(&str) -> NodeStats + Send + Sync>;

impl Cluster {
    /// Connects to NATS (`urls`: one or more, comma-separated) and starts the cluster tasks. The node
    /// keeps retrying a NATS it cannot reach, reporting not-ready meanwhile.
    pub async fn start(
        node: Arc<str>,
        urls: &str,
        prefix: &str,
        node_timeout: Duration,
        limits: StreamLimits,
        hub: Arc<Hub>,
        shutdown: Shutdown,
    ) -> Result<Arc<Self>, ClusterError> {
        let (reconnected_tx, reconnected_rx) = mpsc::unbounded_channel();
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
            .connect(urls.split(',').map(str::trim).collect::<Vec<_>>())
            .await
            .map_err(|e| ClusterError::Connect {
                url: urls.to_string(),
                message: e.to_string(),
            })?;
        let subjects = Subjects::new(prefix);
        let store = Arc::new(MessageStore::new(client.clone(), subjects.clone(), limits));
        store.open_in_background();
        let cluster = Arc::new(Cluster {
            client,
            node,
            subjects,
            store,
            reconnects,
            nodes: NodeTable::default(),
            hub: hub.clone(),
            live: live::new_map(),
            stats_source: std::sync::OnceLock::new(),
        });
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        hub.attach(events_tx);
        tasks::spawn_all(cluster.clone(), events_rx, reconnected_rx, node_timeout, shutdown);
        Ok(cluster)
    }

    pub fn node_id(&self) -> &str {
        &self.node
    }

    /// The lifecycle log's store on this cluster's NATS.
    pub fn event_store(&self, max_age: Duration, max_bytes: i64) -> Arc<JetStreamEvents> {
        JetStreamEvents::start(self.client.clone(), self.subjects.clone(), max_age, max_bytes)
    }

    /// Whether this node decides cluster-wide events (webhooks): the live node with the lowest id,
    /// once it has listened long enough to have heard every other live node.
    pub fn decides(&self) -> Decision {
        self.nodes.decision(&self.node, std::time::Instant::now())
    }

    /// Subscriber counts of an app's channels (or one channel) summed over every node that answers
    /// within the query timeout.
    pub async fn channel_counts(&self, app: &Arc<str>, channel: Option<&ChannelName>) -> HashMap<ChannelName, usize> {
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

    /// Connections of `app` and `tenant` on the other nodes, as their last heartbeats said.
    pub fn connections_elsewhere(&self, app: &str, tenant: &str) -> (usize, usize) {
        self.nodes.connections(app, tenant)
    }

    /// An app's live figures summed over every node that answers within the query timeout.
    pub async fn app_stats(&self, app: &Arc<str>) -> NodeStats {
        let mut total = NodeStats::default();
        for node in self.gather::<NodeStats>(&Query::Stats { app: app.clone() }).await {
            total.connections += node.connections;
            total.messages_in += node.messages_in;
            total.messages_out += node.messages_out;
            total.channels.extend(node.channels);
        }
        total.channels.sort();
        total.channels.dedup();
        total
    }

    /// Where this node's own figures come from (set once the publisher exists).
    pub fn set_stats_source(&self, source: StatsSource) {
        let _ = self.stats_source.set(source);
    }

    fn local_stats(&self, app: &str) -> NodeStats {
        self.stats_source.get().map(|f| f(app)).unwrap_or_default()
    }

    /// Views of an app's connections on every node that answers within the query timeout.
    pub async fn connections(&self, app: &Arc<str>, filter: &ConnectionFilter) -> Vec<ConnectionView> {
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

    /// Closes one connection wherever it is; false when no node holds it.
    pub async fn disconnect(&self, app: &Arc<str>, socket_id: &str, code: CloseCode, reason: &str) -> bool {
        let query = Query::Disconnect {
            app: app.clone(),
            socket_id: socket_id.to_string(),
            code: code.code(),
            reason: reason.to_string(),
        };
        self.gather::<bool>(&query).await.into_iter().any(|closed| closed)
    }

    /// Closes `user`'s signed-in connections on every node.
    pub async fn terminate_user(&self, app: &Arc<str>, user: &str) -> Result<(), BusError> {
        self.send(
            self.subjects.control(),
            &Control::Terminate {
                app: app.clone(),
                user: user.to_string(),
            },
        )
        .await
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
    async fn publish(&self, mut message: ChannelMessage, options: &StoreOptions) -> Result<Published, BusError> {
        // Without NATS nothing can be stored or carried: say so at once rather than after timeouts.
        if !self.is_ready() {
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
        let published = self.store.append(&mut message, options).await?;
        if !published.duplicate && message.channel.is_cache() {
            // This node keeps it before answering the publisher (so `info=cache` right after sees it);
            // the others keep it too, so a first subscriber anywhere gets it.
            message.serial = published.position.map(|p| p.serial).unwrap_or(0);
            self.hub.remember(&message, &frame_of(&message));
            self.send(self.subjects.cache(&self.node), &message).await?;
        }
        Ok(published)
    }

    async fn attach(&self, key: &ChannelKey, from: Option<StartFrom>, retention: Retention, attach: Attach) {
        let request = live::AttachRequest {
            from,
            retention,
            attach,
        };
        self.attach_live(key, request).await;
    }

    async fn history(&self, key: &ChannelKey, query: PageQuery, retention: Retention) -> Result<Page, BusError> {
        let last = self.store.last_serial(key).await?.unwrap_or(0);
        let reader = self.store.reader(key).await?;
        let mut page = history::page(&reader, last, query, retention, unix_ms()).await?;
        page.epoch = self.store.epoch().await?;
        Ok(page)
    }

    fn is_ready(&self) -> bool {
        self.client.connection_state() == State::Connected
    }
}

/// Events the hub hands to the cluster layer, applied in order by one task.
pub(crate) type HubEvents = mpsc::UnboundedReceiver<HubEvent>;
