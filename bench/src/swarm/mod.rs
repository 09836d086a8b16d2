//! The cluster-scale scenario (bench/cluster-scale.sh): a share of a large swarm of long-lived
//! connections spread over several nodes, public channels checked for loss and duplication, presence
//! channels joined, every connection resuming on another node when its node goes away; and the
//! publisher that numbers the messages per channel (`publisher`). Several swarm processes make up a
//! run (one process may hold at most as many sockets as it may open files).
//!
//! Connection `g` of the swarm (`first + j` in this process) goes to node `g % nodes`: the first
//! `presence_channels × presence_members` are members of presence channel `g % presence_channels`,
//! the rest subscribe public channel `(g - members) % channels`.
//!
//! A process prints a status line (JSON) every `status_every` seconds, and after `seconds` waits
//! for what the publisher says it published (`expect`, its file) and prints its final line.

mod connection;
mod frame;
pub mod publisher;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use connection::Tally;

#[derive(clap::Args)]
pub struct SwarmArgs {
    /// The nodes (host:port), comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<SocketAddr>,
    #[arg(long)]
    key: String,
    #[arg(long)]
    secret: String,
    /// Source addresses to spread this process's sockets over.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1")]
    source_ips: Vec<IpAddr>,
    /// Connections of this process.
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Number of this process's first connection in the whole swarm.
    #[arg(long, default_value_t = 0)]
    first: usize,
    #[arg(long, default_value_t = 1000)]
    channels: usize,
    #[arg(long, default_value_t = 0)]
    presence_channels: usize,
    #[arg(long, default_value_t = 20)]
    presence_members: usize,
    #[arg(long, default_value = "scale-")]
    prefix: String,
    /// Seconds to run before the final check.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    #[arg(long, default_value_t = 5)]
    status_every: u64,
    /// The publisher's result file (JSON `{"last": [..]}`): the last number of each channel.
    #[arg(long)]
    expect: Option<std::path::PathBuf>,
    /// Seconds to wait for the publisher's file and for every subscriber to catch up.
    #[arg(long, default_value_t = 60)]
    drain: u64,
}

/// Runs this process's share of the swarm and returns its final line.
pub async fn run(args: SwarmArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        args.channels > 0 && !args.servers.is_empty(),
        "--channels and --servers must not be empty"
    );
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = watch::channel(false);
    let nodes = Arc::new(connection::Nodes::new(args.servers.clone()));
    let (key, secret): (Arc<str>, Arc<str>) = (args.key.as_str().into(), args.secret.as_str().into());
    let members = args.presence_channels * args.presence_members;
    let mut public = Vec::new(); // (channel index, last number received)
    for j in 0..args.connections {
        let g = args.first + j;
        let (channel, presence) = if g < members {
            (format!("presence-{}{}", args.prefix, g % args.presence_channels), true)
        } else {
            let c = (g - members) % args.channels;
            (format!("{}{c}", args.prefix), false)
        };
        let last = Arc::new(AtomicU64::new(0));
        if !presence {
            public.push(((g - members) % args.channels, last.clone()));
        }
        let plan = connection::Plan {
            index: g,
            nodes: nodes.clone(),
            source_ip: args.source_ips[j % args.source_ips.len()],
            key: key.clone(),
            secret: secret.clone(),
            channel,
            presence,
        };
        tokio::spawn(connection::run(plan, tally.clone(), last, stopped.clone()));
        if j % 200 == 199 {
            tokio::task::yield_now().await; // let the first ones connect while the rest are spawned
        }
    }
    let started = Instant::now();
    let status = tokio::spawn(print_status(tally.clone(), nodes.clone(), args.status_every, started));
    tokio::time::sleep(Duration::from_secs(args.seconds)).await;
    let behind = match &args.expect {
        Some(path) => Some(drain(path, &public, Duration::from_secs(args.drain)).await?),
        None => None,
    };
    status.abort();
    let _ = stop.send(true);
    Ok(final_line(&tally, &args, behind, started))
}

/// Waits for the publisher's file, then (bounded) until every public subscriber has the last
/// number of its channel; the numbers still missing at the end (lost at the tail).
async fn drain(path: &std::path::Path, public: &[(usize, Arc<AtomicU64>)], bound: Duration) -> anyhow::Result<u64> {
    let until = Instant::now() + bound;
    let expected: Vec<u64> = loop {
        if let Ok(text) = tokio::fs::read_to_string(path).await {
            let v: serde_json::Value = serde_json::from_str(&text)?;
            let last = v["last"]
                .as_array()
                .ok_or_else(|| anyhow::anyhow!("{path:?} has no \"last\""))?;
            break last.iter().map(|n| n.as_u64().unwrap_or(0)).collect();
        }
        anyhow::ensure!(Instant::now() < until, "the publisher's file {path:?} did not appear");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    loop {
        let missing: u64 = public
            .iter()
            .map(|(c, last)| {
                expected
                    .get(*c)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(last.load(Relaxed))
            })
            .sum();
        if missing == 0 || Instant::now() > until {
            return Ok(missing);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn print_status(tally: Arc<Tally>, nodes: Arc<connection::Nodes>, every: u64, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    tick.tick().await;
    let mut delivered = 0;
    loop {
        tick.tick().await;
        let window = tally.latencies.take_window();
        let now = tally.delivered.load(Relaxed);
        let line = json!({
            "status": true, "t": started.elapsed().as_secs_f64().round(), "unix_ms": crate::now_ns() / 1_000_000,
            "deliveries_per_sec": (now - delivered) as f64 / every.max(1) as f64,
            "latency_ms": (window.count() > 0).then(|| window.percentiles()), "counts": counts(&tally),
            "per_node": nodes.held(),
        });
        delivered = now;
        println!("{line}");
    }
}

fn counts(t: &Tally) -> serde_json::Value {
    json!({
        "connected": t.connected.load(Relaxed), "subscribed": t.subscribed.load(Relaxed),
        "delivered": t.delivered.load(Relaxed), "duplicates": t.duplicates.load(Relaxed), "gaps": t.gaps.load(Relaxed),
        "reconnects": t.reconnects.load(Relaxed), "recovered_true": t.recovered_true.load(Relaxed),
        "recovered_false": t.recovered_false.load(Relaxed), "errors": t.errors.load(Relaxed),
        "told_to_reconnect": t.told_to_reconnect.load(Relaxed),
        "connect_failures": t.connect_failures.load(Relaxed),
    })
}

fn final_line(tally: &Tally, args: &SwarmArgs, behind: Option<u64>, started: Instant) -> serde_json::Value {
    json!({
        "scenario": "swarm", "final": true, "first": args.first, "connections": args.connections,
        "seconds": started.elapsed().as_secs_f64(), "counts": counts(tally),
        "lost_at_end": behind, "latency_ms": tally.latencies.whole_run(),
    })
}
