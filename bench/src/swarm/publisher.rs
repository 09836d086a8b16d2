//! The swarm's publisher: numbered messages (1, 2, ... per channel) at a steady rate over the
//! channels, through every node in turn. A publish that fails (its node killed or stopping) is
//! retried on the next node with its idempotency key until answered 200, so a message is stored
//! once; a channel's messages go one at a time, so numbers are stored in order. At the end it
//! writes the last number of each channel to `out`, where the swarm processes read it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use serde_json::json;

use crate::publish::Connections;
use crate::pusher::{self, Target};
use crate::stamp;
use crate::stats::Windowed;

#[derive(clap::Args)]
pub struct PublisherArgs {
    #[arg(long, value_delimiter = ',', required = true)]
    servers: Vec<SocketAddr>,
    #[arg(long)]
    app_id: String,
    #[arg(long)]
    key: String,
    #[arg(long)]
    secret: String,
    #[arg(long, default_value_t = 1000)]
    channels: usize,
    #[arg(long, default_value = "scale-")]
    prefix: String,
    /// Publishes per second over all channels.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Where to write `{"last": [..]}` at the end.
    #[arg(long)]
    out: std::path::PathBuf,
    #[arg(long, default_value_t = 5)]
    status_every: u64,
}

/// What the publisher shares between its publishes.
struct Shared {
    nodes: Vec<(SocketAddr, Connections)>,
    target: Target,
    /// Per channel: one publish at a time, and the last number answered 200.
    channels: Vec<(tokio::sync::Mutex<()>, AtomicU64)>,
    turn: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    latencies: Windowed,
}

/// How long one message may keep failing before it counts as failed.
const GIVE_UP: Duration = Duration::from_secs(60);

pub async fn run(args: PublisherArgs) -> anyhow::Result<serde_json::Value> {
    anyhow::ensure!(
        args.channels > 0 && args.rate > 0,
        "--channels and --rate must be at least 1"
    );
    let shared = Arc::new(Shared {
        nodes: args.servers.iter().map(|s| (*s, Connections::default())).collect(),
        target: Target {
            server: args.servers[0],
            app_id: args.app_id.clone(),
            key: args.key.clone(),
            secret: args.secret.clone(),
            source_ips: vec![],
        },
        channels: (0..args.channels).map(|_| Default::default()).collect(),
        turn: AtomicU64::new(0),
        retries: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        latencies: Windowed::default(),
    });
    let started = Instant::now();
    let status = tokio::spawn(print_status(shared.clone(), args.status_every, started));
    let mut pace = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64));
    let total = args.rate * args.seconds;
    let mut sends = Vec::with_capacity(total as usize);
    for k in 0..total {
        pace.tick().await;
        let (c, seq) = ((k % args.channels as u64) as usize, k / args.channels as u64 + 1);
        let channel = format!("{}{c}", args.prefix);
        sends.push(tokio::spawn(publish(shared.clone(), c, channel, seq)));
    }
    for send in sends {
        let _ = send.await;
    }
    status.abort();
    let last: Vec<u64> = shared.channels.iter().map(|(_, l)| l.load(Relaxed)).collect();
    tokio::fs::write(&args.out, json!({ "last": last }).to_string()).await?;
    let published: u64 = last.iter().sum();
    Ok(json!({
        "scenario": "swarm-publisher", "final": true, "published": published, "planned": total,
        "seconds": started.elapsed().as_secs_f64(), "retries": shared.retries.load(Relaxed),
        "failed": shared.failed.load(Relaxed), "latency_ms": shared.latencies.whole_run(),
    }))
}

/// Message `seq` of channel `c`, after the channel's previous one, retried on the next node until
/// 200 or GIVE_UP.
async fn publish(shared: Arc<Shared>, c: usize, channel: String, seq: u64) {
    let (order, last) = &shared.channels[c];
    let _one_at_a_time = order.lock().await;
    let first = Instant::now();
    let data = stamp::data(seq, crate::now_ns());
    let body = json!({ "name": "bench", "channel": channel, "data": data }).to_string();
    loop {
        let turn = shared.turn.fetch_add(1, Relaxed) as usize;
        let (server, http) = &shared.nodes[turn % shared.nodes.len()];
        let path = pusher::signed_events_path(&shared.target, body.as_bytes(), crate::unix_secs());
        let request = hyper::Request::post(path)
            .header(hyper::header::HOST, server.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", format!("{channel}:{seq}"))
            .body(Full::new(Bytes::from(body.clone())));
        let Ok(request) = request else { return };
        let sent = tokio::time::timeout(Duration::from_secs(3), http.send(*server, request)).await;
        if sent == Ok(true) {
            let us = first.elapsed().as_micros() as u64;
            shared.latencies.record_us(us);
            last.fetch_max(seq, Relaxed);
            return;
        }
        if first.elapsed() > GIVE_UP {
            shared.failed.fetch_add(1, Relaxed);
            return;
        }
        shared.retries.fetch_add(1, Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn print_status(shared: Arc<Shared>, every: u64, started: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(every.max(1)));
    tick.tick().await;
    loop {
        tick.tick().await;
        let window = shared.latencies.take_window();
        let published: u64 = shared.channels.iter().map(|(_, l)| l.load(Relaxed)).sum();
        println!(
            "{}",
            json!({
                "status": true, "publisher": true, "t": started.elapsed().as_secs_f64().round(),
                "unix_ms": crate::now_ns() / 1_000_000, "published": published,
                "publishes_in_window": window.count(), "retries": shared.retries.load(Relaxed),
                "failed": shared.failed.load(Relaxed), "latency_ms": (window.count() > 0).then(|| window.percentiles()),
            })
        );
    }
}
