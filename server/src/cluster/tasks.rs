//! The cluster's background tasks: hub events out (interest, presence), presence and control in,
//! heartbeats and dead-node sweeping, and answering queries.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::nodes::{Counts, HEARTBEAT};
use super::wire::{ChannelCounts, Control, Heartbeat, PresenceEvent, Query};
use super::Cluster;
use crate::bus::Bus;
use crate::channel_key::ChannelKey;
use crate::hub::{frame_of, Decision, HubEvent, HubEvents};
use crate::message::ChannelMessage;
use crate::protocol::CloseCode;
use crate::shutdown::Shutdown;

/// How often every node republishes its full presence, so any missed change heals.
const PRESENCE_RESYNC: Duration = Duration::from_secs(15);

pub(super) fn spawn_all(
    cluster: Arc<Cluster>,
    events: HubEvents,
    reconnected: mpsc::UnboundedReceiver<()>,
    node_timeout: Duration,
    shutdown: Shutdown,
) {
    let stop = |shutdown: &Shutdown| {
        let s = shutdown.clone();
        async move { s.stopping().await }
    };
    let c = cluster.clone();
    let s = stop(&shutdown);
    tokio::spawn(async move {
        tokio::select! { _ = hub_events(c, events) => {}, _ = s => {} }
    });
    let c = cluster.clone();
    let s = stop(&shutdown);
    tokio::spawn(async move {
        tokio::select! { _ = presence_in(c) => {}, _ = s => {} }
    });
    let c = cluster.clone();
    let s = stop(&shutdown);
    tokio::spawn(async move {
        tokio::select! { _ = heartbeats(c, node_timeout, reconnected) => {}, _ = s => {} }
    });
    let c = cluster.clone();
    let s = stop(&shutdown);
    tokio::spawn(async move {
        tokio::select! { _ = queries_and_control(c) => {}, _ = s => {} }
    });
    let c = cluster.clone();
    let s = stop(&shutdown);
    tokio::spawn(async move {
        tokio::select! { _ = store_upkeep(c) => {}, _ = s => {} }
    });
    // Tracked: the shutdown's drain waits for the goodbye to reach NATS.
    let s = stop(&shutdown);
    shutdown.tracker().spawn(async move {
        s.await;
        farewell(&cluster).await;
    });
}

/// How long a stopping node waits for its goodbye to reach NATS.
const FAREWELL_FLUSH: Duration = Duration::from_secs(2);

/// Tells the other nodes, as this node starts to stop, that it holds no presence any more (an
/// empty `Sync`): they remove its members, signed-in users and subscriber counts at once, with
/// `member_removed` and its webhook, instead of keeping them listed until `node_timeout` says the
/// node is dead. Its clients are being closed with 4200 and come back on the others as new members.
async fn farewell(cluster: &Cluster) {
    let nothing = PresenceEvent::Sync {
        node: cluster.node.clone(),
        channels: Vec::new(),
        users: Vec::new(),
        counts: Vec::new(),
    };
    publish_presence(cluster, &nothing).await;
    if tokio::time::timeout(FAREWELL_FLUSH, cluster.client.flush())
        .await
        .is_err()
    {
        tracing::warn!(
            "the goodbye to the other nodes did not reach NATS: they remove this node's members after node_timeout"
        );
    }
}

/// Twice a second, trims the channels whose trim is due (off the publish path); every minute,
/// forgets the publish chains of channels idle since the minute before.
async fn store_upkeep(cluster: Arc<Cluster>) {
    const ROUND: Duration = Duration::from_millis(500);
    const IDLE_CHAINS_EVERY: u32 = 120;
    let mut tick = tokio::time::interval(ROUND);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 1u32.. {
        tick.tick().await;
        cluster.store.trim(Instant::now()).await;
        if round % IDLE_CHAINS_EVERY == 0 {
            cluster.store.let_go_idle_chains();
        }
    }
}

/// Applies hub events in order: (un)subscribe live subjects, announce presence changes.
async fn hub_events(cluster: Arc<Cluster>, mut events: HubEvents) {
    while let Some(event) = events.recv().await {
        match event {
            // Interest is taken by `join_interest` before a client joins; only losses come here.
            HubEvent::Interest { on: true, .. } => {}
            HubEvent::Interest { key, on: false } => cluster.interest_lost(&key).await,
            HubEvent::PresenceJoin { key, member } => {
                let event = PresenceEvent::Join {
                    node: cluster.node.clone(),
                    app: key.app,
                    channel: key.channel,
                    member,
                };
                publish_presence(&cluster, &event).await;
            }
            HubEvent::PresenceLeave { key, user } => {
                let event = PresenceEvent::Leave {
                    node: cluster.node.clone(),
                    app: key.app,
                    channel: key.channel,
                    user,
                };
                publish_presence(&cluster, &event).await;
            }
            HubEvent::Flush(done) => {
                cluster.round_trip().await;
                let _ = done.send(());
            }
            HubEvent::Count { key, count } => {
                let ChannelKey { app, channel } = key;
                publish_presence(
                    &cluster,
                    &PresenceEvent::Count {
                        node: cluster.node.clone(),
                        app,
                        channel,
                        count,
                    },
                )
                .await;
            }
            HubEvent::UserOnline { app, user } => {
                publish_presence(
                    &cluster,
                    &PresenceEvent::Online {
                        node: cluster.node.clone(),
                        app,
                        user,
                    },
                )
                .await;
            }
            HubEvent::UserOffline { app, user } => {
                publish_presence(
                    &cluster,
                    &PresenceEvent::Offline {
                        node: cluster.node.clone(),
                        app,
                        user,
                    },
                )
                .await;
            }
        }
    }
}

async fn publish_presence(cluster: &Cluster, event: &PresenceEvent) {
    if let Err(e) = cluster.send(cluster.subjects.presence(), event).await {
        tracing::warn!(error = %e, "presence change not published; the periodic resync will repair it");
    }
}

async fn publish_sync(cluster: &Cluster) {
    let channels = cluster
        .hub
        .channels
        .local_presence()
        .into_iter()
        .map(|(key, members)| (key.app, key.channel, members))
        .collect();
    let users = cluster.hub.users.local_users();
    let counts = cluster
        .hub
        .local_counts_to_share()
        .into_iter()
        .map(|(key, count)| (key.app, key.channel, count))
        .collect();
    publish_presence(
        cluster,
        &PresenceEvent::Sync {
            node: cluster.node.clone(),
            channels,
            users,
            counts,
        },
    )
    .await;
}

/// Applies other nodes' presence to the hub.
async fn presence_in(cluster: Arc<Cluster>) {
    let Ok(mut sub) = cluster.client.subscribe(cluster.subjects.presence()).await else {
        tracing::error!("cannot subscribe to presence");
        return;
    };
    // Ask everyone for their presence now that this node listens.
    publish_presence(
        &cluster,
        &PresenceEvent::Resync {
            node: cluster.node.clone(),
        },
    )
    .await;
    while let Some(msg) = sub.next().await {
        let Ok(event) = serde_json::from_slice::<PresenceEvent>(&msg.payload) else {
            continue;
        };
        let registry = &cluster.hub.channels;
        match event {
            PresenceEvent::Join { node, .. }
            | PresenceEvent::Leave { node, .. }
            | PresenceEvent::Online { node, .. }
            | PresenceEvent::Offline { node, .. }
            | PresenceEvent::Count { node, .. }
            | PresenceEvent::Sync { node, .. }
                if node == cluster.node => {}
            PresenceEvent::Count {
                node,
                app,
                channel,
                count,
            } => cluster.hub.remote_count(&node, ChannelKey::new(app, channel), count),
            PresenceEvent::Online { node, app, user } => cluster.hub.users.remote_online(&node, &app, &user),
            PresenceEvent::Offline { node, app, user } => cluster.hub.users.remote_offline(&node, &app, &user),
            PresenceEvent::Join {
                node,
                app,
                channel,
                member,
            } => registry.remote_join(&ChannelKey::new(app, channel), &node, &member),
            PresenceEvent::Leave {
                node,
                app,
                channel,
                user,
            } => registry.remote_leave(&ChannelKey::new(app, channel), &node, &user),
            PresenceEvent::Sync {
                node,
                channels,
                users,
                counts,
            } => {
                let memberships = channels
                    .into_iter()
                    .map(|(app, channel, members)| (ChannelKey::new(app, channel), members))
                    .collect();
                registry.replace_node(&node, memberships);
                cluster.hub.users.replace_node(&node, &users);
                let counts = counts
                    .into_iter()
                    .map(|(app, channel, n)| (ChannelKey::new(app, channel), n))
                    .collect();
                cluster.hub.replace_node_counts(&node, counts);
            }
            PresenceEvent::Resync { node } if node != cluster.node => publish_sync(&cluster).await,
            PresenceEvent::Resync { .. } => {}
        }
    }
}

/// Publishes this node's heartbeat, tracks the others', removes the members of dead nodes, and
/// republishes this node's presence after a NATS reconnect and every `PRESENCE_RESYNC`.
async fn heartbeats(cluster: Arc<Cluster>, node_timeout: Duration, mut reconnected: mpsc::UnboundedReceiver<()>) {
    let Ok(mut sub) = cluster.client.subscribe(cluster.subjects.heartbeat()).await else {
        tracing::error!("cannot subscribe to heartbeats");
        return;
    };
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut resync = tokio::time::interval(PRESENCE_RESYNC);
    loop {
        tokio::select! {
            _ = beat.tick() => {
                let (apps, tenants) = cluster.hub.connection_counts();
                let _ = cluster.send(cluster.subjects.heartbeat(), &Heartbeat { node: cluster.node.clone(), apps, tenants }).await;
                // Cut off from NATS, this node hears nobody: that says nothing about the others, so it
                // expires no one until it is back (they come back into view with their heartbeats).
                let decided = cluster.decision() == Decision::Decides;
                let dead = if cluster.is_ready() { cluster.nodes.expire(node_timeout, Instant::now()) } else { Vec::new() };
                if !decided && cluster.decision() == Decision::Decides {
                    // The deciding node died: what it may not have decided since it was last heard
                    // is decided here, before its members' removal.
                    if let Some(since) = dead.iter().map(|(_, heard)| *heard).min() {
                        tracing::info!("the deciding node is gone: this node decides cluster-wide events now");
                        cluster.hub.observers.take_over(since);
                    }
                }
                for (dead, _) in dead {
                    tracing::warn!(node = %dead, "node silent for too long: removing its presence members");
                    cluster.hub.channels.forget_node(&dead);
                    cluster.hub.users.replace_node(&dead, &[]);
                    cluster.hub.forget_node_counts(&dead);
                }
            }
            _ = resync.tick() => publish_sync(&cluster).await,
            Some(()) = reconnected.recv() => {
                tracing::info!("connected to NATS: republishing presence and asking for everyone's");
                // The others' silence while this node was away is not theirs: give them a fresh timeout.
                cluster.nodes.touch_all(Instant::now());
                publish_sync(&cluster).await;
                publish_presence(&cluster, &PresenceEvent::Resync { node: cluster.node.clone() }).await;
            }
            Some(msg) = sub.next() => {
                let Ok(hb) = serde_json::from_slice::<Heartbeat>(&msg.payload) else { continue };
                let counts = Counts { apps: hb.apps.into_iter().collect(), tenants: hb.tenants.into_iter().collect() };
                if hb.node == cluster.node {
                    cluster.nodes.heard_self(Instant::now());
                } else if cluster.nodes.heard(&hb.node, Instant::now(), counts) {
                    // New, or back after being forgotten: it may not know this node's state.
                    tracing::info!(node = %hb.node, "node joined the cluster");
                    publish_sync(&cluster).await;
                }
            }
        }
    }
}

/// Answers scatter-gather queries and carries out cluster-wide commands.
async fn queries_and_control(cluster: Arc<Cluster>) {
    let subscribe = |subject: String| cluster.client.subscribe(subject);
    let (Ok(mut queries), Ok(mut control), Ok(mut cache)) = (
        subscribe(cluster.subjects.query()).await,
        subscribe(cluster.subjects.control()).await,
        subscribe(cluster.subjects.cache_all()).await,
    ) else {
        tracing::error!("cannot subscribe to queries, control and cache");
        return;
    };
    loop {
        tokio::select! {
            Some(msg) = queries.next() => {
                let (Some(reply), Ok(query)) = (msg.reply, serde_json::from_slice::<Query>(&msg.payload)) else { continue };
                let _ = match query {
                    Query::Channels { app, channel } => {
                        let channels = cluster.local.local_channel_counts(&app, channel.as_ref());
                        cluster.send(reply.to_string(), &ChannelCounts { node: cluster.node.clone(), channels }).await
                    }
                    Query::Stats { app } => cluster.send(reply.to_string(), &cluster.local.local_stats(&app)).await,
                    Query::Connections { app, filter } => {
                        cluster.send(reply.to_string(), &cluster.local.local_connections(&app, &filter)).await
                    }
                    Query::Disconnect { app, socket_id, code, reason } => {
                        let code = CloseCode::from_code(code).unwrap_or(CloseCode::Unauthorized);
                        let closed = cluster.local.local_disconnect(&app, &socket_id, code, &reason);
                        cluster.send(reply.to_string(), &closed).await
                    }
                };
            }
            Some(msg) = cache.next() => {
                // This node kept its own publishes already; taking its echo could briefly bring back
                // an older event after a newer one.
                if msg.subject.as_str() == cluster.subjects.cache(&cluster.node) {
                    continue;
                }
                if let Ok(message) = serde_json::from_slice::<ChannelMessage>(&msg.payload) {
                    cluster.hub.remember(&message, &frame_of(&message));
                }
            }
            Some(msg) = control.next() => {
                match serde_json::from_slice::<Control>(&msg.payload) {
                    Ok(Control::Terminate { app, user }) => cluster.local.local_terminate_user(&app, &user),
                    Err(e) => tracing::warn!(error = %e, "unreadable cluster command"),
                }
            }
        }
    }
}
