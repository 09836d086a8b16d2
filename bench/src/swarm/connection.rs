//! One swarm connection for the whole run: connects to its node, subscribes its channel, checks
//! every numbered message (once, in order), answers pings, and when the node goes away (killed, or
//! stopping with 4200) reconnects to the next node and resumes from the last position it saw, as a
//! pusher-js page with the resume plugin does. It owns nothing else: counts go to the shared tally.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::frame::{self, Frame, Position};
use crate::pusher;
use crate::stats::Windowed;

/// What every connection of the process adds to (read by the status line and the final report).
#[derive(Default)]
pub struct Tally {
    pub connected: AtomicI64,
    pub subscribed: AtomicI64,
    pub delivered: AtomicU64,
    pub duplicates: AtomicU64,
    /// Numbers skipped on a subscription (never delivered afterwards: order is strict here).
    pub gaps: AtomicU64,
    pub reconnects: AtomicU64,
    pub recovered_true: AtomicU64,
    pub recovered_false: AtomicU64,
    /// `pusher:error` frames, but for those asking the client to reconnect (`told_to_reconnect`).
    pub errors: AtomicU64,
    pub told_to_reconnect: AtomicU64,
    pub connect_failures: AtomicU64,
    /// Publish-to-delivery latencies, of the run and since the last status line.
    pub latencies: Windowed,
}

/// The nodes, with how many of this process's connections each holds or is being dialled, and
/// which refused a connection lately: a reconnect goes to the node with the fewest (as a load
/// balancer's least-connections rule sends it; each process holds an even share of the swarm, so
/// its own counts stand for the whole).
pub struct Nodes {
    pub servers: Vec<SocketAddr>,
    held: Vec<AtomicI64>,
    refused_at_ms: Vec<AtomicU64>,
}

/// How long a connection may take to open (TCP and WebSocket handshake) before another node is tried.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a node that refused a connection is passed over.
const REFUSED_MS: u64 = 3000;

impl Nodes {
    pub fn new(servers: Vec<SocketAddr>) -> Self {
        let n = servers.len();
        Nodes {
            servers,
            held: (0..n).map(|_| AtomicI64::new(0)).collect(),
            refused_at_ms: (0..n).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// `preferred` (at the start), else the node with the fewest connections that has not refused
    /// one lately and is not `leaving`; counted as held from now on.
    fn take(&self, preferred: Option<usize>, leaving: Option<usize>) -> usize {
        let now = crate::now_ns() as u64 / 1_000_000;
        let usable = |i: &usize| Some(*i) != leaving && self.refused_at_ms[*i].load(Relaxed) + REFUSED_MS < now;
        let n = self.servers.len();
        let chosen = preferred
            .or_else(|| (0..n).filter(usable).min_by_key(|i| self.held[*i].load(Relaxed)))
            .or_else(|| {
                (0..n)
                    .filter(|i| Some(*i) != leaving)
                    .min_by_key(|i| self.held[*i].load(Relaxed))
            })
            .unwrap_or(0);
        self.held[chosen].fetch_add(1, Relaxed);
        chosen
    }

    /// How many connections this process holds (or is dialling) on each node.
    pub fn held(&self) -> Vec<i64> {
        self.held.iter().map(|h| h.load(Relaxed)).collect()
    }

    fn release(&self, i: usize, refused: bool) {
        self.held[i].fetch_sub(1, Relaxed);
        if refused {
            self.refused_at_ms[i].store(crate::now_ns() as u64 / 1_000_000, Relaxed);
        }
    }
}

/// What one connection is: its number in the whole swarm, its nodes, its channel.
pub struct Plan {
    pub index: usize,
    pub nodes: Arc<Nodes>,
    pub source_ip: IpAddr,
    pub key: Arc<str>,
    pub secret: Arc<str>,
    pub channel: String,
    /// A presence channel: joined as a new member (`u{index}.{incarnation}`) on every connection.
    pub presence: bool,
}

/// Runs the connection until `stop` says so; `last` holds the last number it received in order.
pub async fn run(plan: Plan, tally: Arc<Tally>, last: Arc<AtomicU64>, mut stop: watch::Receiver<bool>) {
    let mut state = State {
        position: None,
        incarnation: 0,
    };
    let nodes = &plan.nodes;
    let mut server = nodes.take(Some(plan.index % nodes.servers.len()), None);
    loop {
        // A node out of descriptors leaves connections in its accept queue unanswered: as a real
        // client does, give up on a handshake after a while and try another node.
        let dial = pusher::connect_to(nodes.servers[server], &plan.key, plan.source_ip);
        let connected = tokio::select! {
            r = tokio::time::timeout(HANDSHAKE_TIMEOUT, dial) => r.map_err(anyhow::Error::from).and_then(|r| r),
            _ = stop.changed() => return,
        };
        let Ok(mut ws) = connected else {
            tally.connect_failures.fetch_add(1, Relaxed);
            nodes.release(server, true);
            if pause(&mut stop, 200 + jitter(plan.index, 300)).await {
                return;
            }
            server = nodes.take(None, Some(server));
            continue;
        };
        tally.connected.fetch_add(1, Relaxed);
        let subscribed = AtomicBool::new(false);
        let ended = tokio::select! {
            r = session(&plan, &mut state, &mut ws, &tally, &last, &subscribed) => r,
            _ = stop.changed() => true,
        };
        tally.connected.fetch_sub(1, Relaxed);
        if subscribed.load(Relaxed) {
            tally.subscribed.fetch_sub(1, Relaxed);
        }
        if ended {
            let _ = ws.close(None).await;
            nodes.release(server, false);
            return;
        }
        nodes.release(server, false);
        tally.reconnects.fetch_add(1, Relaxed);
        state.incarnation += 1;
        // pusher-js reconnects at once after 4200 and about a second after a drop: spread over 1 s.
        if pause(&mut stop, jitter(plan.index + state.incarnation, 1000)).await {
            return;
        }
        server = nodes.take(None, Some(server));
    }
}

struct State {
    position: Option<Position>,
    incarnation: usize,
}

/// One WebSocket's life; false when the server went away (reconnect), true to stop.
async fn session(
    plan: &Plan,
    state: &mut State,
    ws: &mut pusher::Socket,
    tally: &Tally,
    last: &AtomicU64,
    subscribed: &AtomicBool,
) -> bool {
    while let Some(Ok(message)) = ws.next().await {
        let Message::Text(text) = message else { continue };
        match frame::read(&text) {
            Frame::Established { socket_id } => {
                let subscribe = subscribe_frame(plan, state, socket_id);
                if ws.send(Message::text(subscribe)).await.is_err() {
                    return false;
                }
            }
            Frame::Ping => {
                if ws
                    .send(Message::text(r#"{"event":"pusher:pong","data":{}}"#))
                    .await
                    .is_err()
                {
                    return false;
                }
            }
            Frame::Subscribed { position, recovered } => {
                subscribed.store(true, Relaxed);
                tally.subscribed.fetch_add(1, Relaxed);
                match recovered {
                    Some(true) => tally.recovered_true.fetch_add(1, Relaxed),
                    Some(false) => tally.recovered_false.fetch_add(1, Relaxed),
                    None => 0,
                };
                if position.is_some() {
                    state.position = position;
                }
            }
            Frame::Message { stamp, position } => {
                let previous = last.load(Relaxed);
                if stamp.seq <= previous {
                    tally.duplicates.fetch_add(1, Relaxed);
                    continue;
                }
                tally.gaps.fetch_add(stamp.seq - previous - 1, Relaxed);
                last.store(stamp.seq, Relaxed);
                tally.delivered.fetch_add(1, Relaxed);
                let us = (crate::now_ns().saturating_sub(stamp.sent_ns) / 1000) as u64;
                tally.latencies.record_us(us);
                if position.is_some() {
                    state.position = position;
                }
            }
            Frame::Error { reconnect: true } => {
                tally.told_to_reconnect.fetch_add(1, Relaxed);
            }
            Frame::Error { reconnect: false } => {
                tally.errors.fetch_add(1, Relaxed);
            }
            Frame::Other => {}
        }
    }
    false
}

/// `pusher:subscribe` for the connection's channel: with `resume` from the last position seen on a
/// public channel; as a new member on a presence channel.
fn subscribe_frame(plan: &Plan, state: &State, socket_id: &str) -> String {
    let mut data = json!({ "channel": plan.channel });
    if plan.presence {
        let member = json!({ "user_id": format!("u{}.{}", plan.index, state.incarnation) }).to_string();
        let auth = pusher::channel_auth(&plan.key, &plan.secret, socket_id, &plan.channel, Some(&member));
        data["auth"] = auth.into();
        data["channel_data"] = member.into();
    } else if let Some(p) = &state.position {
        data["resume"] = json!({ "epoch": p.epoch, "serial": p.serial });
    }
    json!({ "event": "pusher:subscribe", "data": data }).to_string()
}

/// Sleeps `ms`; true when told to stop meanwhile.
async fn pause(stop: &mut watch::Receiver<bool>, ms: u64) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(ms)) => false,
        _ = stop.changed() => true,
    }
}

/// A spread-out delay in 0..max ms, the same for the same seed (no random source needed).
fn jitter(seed: usize, max: u64) -> u64 {
    (seed as u64).wrapping_mul(2_654_435_761) % max.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(presence: bool) -> Plan {
        Plan {
            index: 7,
            nodes: Arc::new(Nodes::new(vec!["127.0.0.1:1".parse().unwrap()])),
            source_ip: "127.0.0.1".parse().unwrap(),
            key: "k".into(),
            secret: "s".into(),
            channel: if presence { "presence-x".into() } else { "x".into() },
            presence,
        }
    }

    #[test]
    fn a_reconnect_goes_to_the_least_loaded_node_that_answers() {
        let servers = (1..=4).map(|p| SocketAddr::from(([127, 0, 0, 1], p))).collect();
        let nodes = Nodes::new(servers);
        for i in 0..8 {
            nodes.take(Some(i % 4), None);
        }
        // node 0 goes away: its two connections spread over the others
        nodes.release(0, false);
        nodes.release(0, false);
        assert_eq!(nodes.take(None, Some(0)), 1);
        assert_eq!(nodes.take(None, Some(0)), 2);
        // node 0 restarted: the next ones go to it until it holds as many as the others
        assert_eq!(nodes.take(None, Some(3)), 0);
        assert_eq!(nodes.take(None, Some(3)), 0);
        // a node that refused is passed over for a while, even when it holds the fewest
        nodes.release(0, true);
        assert_ne!(nodes.take(None, None), 0);
    }

    #[test]
    fn a_reconnect_resumes_from_the_last_position() {
        let mut state = State {
            position: None,
            incarnation: 0,
        };
        assert_eq!(
            subscribe_frame(&plan(false), &state, "1.2"),
            r#"{"data":{"channel":"x"},"event":"pusher:subscribe"}"#
        );
        state.position = Some(Position {
            epoch: "9".into(),
            serial: 33,
        });
        assert!(subscribe_frame(&plan(false), &state, "1.2").contains(r#""resume":{"epoch":"9","serial":33}"#));
        state.incarnation = 2;
        let presence = subscribe_frame(&plan(true), &state, "1.2");
        assert!(presence.contains(r#"\"user_id\":\"u7.2\""#), "{presence}");
        assert!(!presence.contains("resume"), "{presence}");
    }
}
