//! herald-bench: drives any Pusher-protocol server and reports what it saw.
//!
//! - `fanout`: C subscribers over K channels, M messages through the signed HTTP API at a fixed rate
//!   or as fast as N requests in flight allow; deliveries/s, publish-to-receive latency, lost and
//!   duplicated deliveries, the server's CPU seconds per delivery and RSS (from /proc, `--pid`).
//!   `--publish-server` sends the publishes to another node (the cross-node scenario).
//! - `idle`: C connections held open (pings answered), RSS growth per connection, memory over the hold.
//!
//! Per frame the subscribers do one small JSON parse; the tool must not be the bottleneck it measures.

mod process;
mod pusher;
mod stats;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::{Barrier, Semaphore};
use tokio_tungstenite::tungstenite::Message;

use pusher::Target;
use stats::{Deliveries, Latencies};

#[derive(Parser)]
#[command(name = "herald-bench", about = "Load tool for Pusher-protocol servers")]
struct Cli {
    /// Print one JSON line instead of the human summary.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Fanout(FanoutArgs),
    Idle(IdleArgs),
}

#[derive(clap::Args)]
struct FanoutArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    #[arg(long, default_value_t = 1)]
    channels: usize,
    #[arg(long, default_value_t = 1000)]
    messages: u64,
    /// Publishes per second; 0 = as fast as `--inflight` allows.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    /// Publish through this node instead (cross-node fan-out).
    #[arg(long)]
    publish_server: Option<SocketAddr>,
    /// Server pid(s) to read CPU and RSS from, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
}

#[derive(clap::Args)]
struct IdleArgs {
    #[command(flatten)]
    target: Target,
    #[arg(long, default_value_t = 1000)]
    connections: usize,
    /// Seconds to hold the connections open, sampling RSS every 10 s.
    #[arg(long, default_value_t = 10)]
    hold: u64,
    #[arg(long)]
    pid: Option<u32>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    event: &'a str,
    #[serde(default)]
    data: Option<String>,
}

#[derive(Deserialize)]
struct Stamp {
    s: u64,
    t: u128,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn cpu_and_rss(pids: &[u32]) -> (f64, u64) {
    pids.iter()
        .filter_map(|p| process::sample(*p).ok())
        .fold((0.0, 0), |(c, r), s| (c + s.cpu_seconds, r + s.rss_bytes))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Fanout(args) => fanout(args, cli.json).await,
        Command::Idle(args) => idle(args, cli.json).await,
    }
}

/// Subscribes one socket to `channel` and returns it once `subscription_succeeded` arrived.
async fn subscribed(target: &Target, i: usize, channel: &str) -> anyhow::Result<pusher::Socket> {
    let ip = target.source_ips[i % target.source_ips.len().max(1)];
    let mut ws = pusher::connect(target, ip).await?;
    let subscribe = json!({ "event": "pusher:subscribe", "data": { "channel": channel } }).to_string();
    ws.send(Message::Text(subscribe.into())).await?;
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg? {
            if t.contains("pusher_internal:subscription_succeeded") {
                return Ok(ws);
            }
        }
    }
    anyhow::bail!("socket closed before subscription_succeeded")
}

async fn fanout(args: FanoutArgs, json_out: bool) -> anyhow::Result<()> {
    let channels = args.channels.max(1);
    let per_channel = |c: usize| (args.messages + (channels - c - 1) as u64) / channels as u64;
    let ready = Arc::new(Barrier::new(args.subscribers + 1));
    let deadline = Arc::new(tokio::sync::OnceCell::<Instant>::new());
    let mut tasks = Vec::with_capacity(args.subscribers);
    for i in 0..args.subscribers {
        let (target, ready, deadline) = (args.target.clone(), ready.clone(), deadline.clone());
        let channel = i % channels;
        let expected = per_channel(channel);
        tasks.push(tokio::spawn(async move {
            let mut ws = subscribed(&target, i, &format!("bench-{channel}")).await;
            ready.wait().await;
            let (mut seen, mut lat) = (Deliveries::new(expected), Latencies::default());
            let Ok(ws) = ws.as_mut() else { return (seen, lat) };
            while seen.received() < expected {
                let wait = deadline
                    .get()
                    .map(|d| d.saturating_duration_since(Instant::now()))
                    .unwrap_or(Duration::from_secs(3600));
                let Ok(Some(Ok(Message::Text(text)))) = tokio::time::timeout(wait, ws.next()).await else {
                    if deadline.get().is_some_and(|d| Instant::now() >= *d) {
                        break;
                    } else {
                        continue;
                    }
                };
                let Ok(env) = serde_json::from_str::<Envelope>(&text) else {
                    continue;
                };
                if env.event != "bench" {
                    continue;
                }
                if let Some(stamp) = env.data.and_then(|d| serde_json::from_str::<Stamp>(&d).ok()) {
                    if seen.record(stamp.s) {
                        lat.record_us(((now_ns().saturating_sub(stamp.t)) / 1000) as u64);
                    }
                }
            }
            (seen, lat)
        }));
    }
    ready.wait().await;
    let (cpu0, _) = cpu_and_rss(&args.pid);
    let started = Instant::now();
    publish_all(&args, channels).await?;
    let published_in = started.elapsed();
    let _ = deadline.set(Instant::now() + Duration::from_secs(10));
    let (mut delivered, mut lost, mut dups, mut lat) = (0u64, 0u64, 0u64, Latencies::default());
    for t in tasks {
        let (seen, l) = t.await?;
        delivered += seen.received();
        lost += seen.lost();
        dups += seen.duplicates();
        lat.merge(&l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (cpu1, rss) = cpu_and_rss(&args.pid);
    let p = lat.percentiles();
    let report = json!({
        "scenario": "fanout", "subscribers": args.subscribers, "channels": channels, "messages": args.messages,
        "rate": args.rate, "published_per_sec": args.messages as f64 / published_in.as_secs_f64(),
        "deliveries": delivered, "deliveries_per_sec": delivered as f64 / elapsed, "lost": lost, "duplicated": dups,
        "latency_ms": p, "latency_samples": lat.count(), "server_cpu_us_per_delivery": if delivered > 0 { (cpu1 - cpu0) * 1e6 / delivered as f64 } else { 0.0 },
        "server_rss_mib": rss as f64 / 1048576.0,
    });
    if json_out {
        println!("{report}");
    } else {
        println!(
            "fan-out: {} subscribers on {channels} channel(s), {} messages at {}",
            args.subscribers,
            args.messages,
            if args.rate == 0 {
                format!("max rate ({} in flight)", args.inflight)
            } else {
                format!("{}/s", args.rate)
            }
        );
        println!(
            "  deliveries {delivered} ({:.0}/s), lost {lost}, duplicated {dups}",
            delivered as f64 / elapsed
        );
        println!(
            "  latency ms p50 {:.2} p90 {:.2} p99 {:.2} p999 {:.2} max {:.2}",
            p.p50, p.p90, p.p99, p.p999, p.max
        );
        println!(
            "  server CPU {:.2} µs/delivery, RSS {:.1} MiB",
            report["server_cpu_us_per_delivery"].as_f64().unwrap_or(0.0),
            rss as f64 / 1048576.0
        );
    }
    Ok(())
}

/// Publishes message i to channel i % channels with seq i / channels, paced or bounded in flight.
async fn publish_all(args: &FanoutArgs, channels: usize) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.inflight)
        .build()?;
    let mut target = args.target.clone();
    if let Some(other) = args.publish_server {
        target.server = other;
    }
    let target = Arc::new(target);
    let slots = Arc::new(Semaphore::new(args.inflight.max(1)));
    let mut pace = (args.rate > 0).then(|| tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate as f64)));
    let mut sends = Vec::new();
    for i in 0..args.messages {
        if let Some(p) = pace.as_mut() {
            p.tick().await;
        }
        let permit = slots.clone().acquire_owned().await?;
        let (http, target) = (http.clone(), target.clone());
        let channel = (i % channels as u64) as usize;
        sends.push(tokio::spawn(async move {
            let data = json!({ "s": i / channels as u64, "t": now_ns() }).to_string();
            let body = json!({ "name": "bench", "channel": format!("bench-{channel}"), "data": data }).to_string();
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            let url = pusher::signed_events_url(&target, body.as_bytes(), secs);
            let res = http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await;
            drop(permit);
            matches!(res, Ok(r) if r.status().is_success())
        }));
    }
    let mut failed = 0;
    for s in sends {
        if !s.await.unwrap_or(false) {
            failed += 1;
        }
    }
    if failed > 0 {
        eprintln!("{failed} publishes failed");
    }
    Ok(())
}

async fn idle(args: IdleArgs, json_out: bool) -> anyhow::Result<()> {
    let pids: Vec<u32> = args.pid.into_iter().collect();
    let (_, rss0) = cpu_and_rss(&pids);
    let mut sockets = Vec::with_capacity(args.connections);
    for i in 0..args.connections {
        let ip = args.target.source_ips[i % args.target.source_ips.len().max(1)];
        sockets.push(pusher::connect(&args.target, ip).await?);
    }
    // Each socket reads in its own task, so server pings get their pongs.
    let holders: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, rss1) = cpu_and_rss(&pids);
    let (mut low, mut high) = (rss1, rss1);
    let hold_until = Instant::now() + Duration::from_secs(args.hold);
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_secs(10).min(hold_until.saturating_duration_since(Instant::now()))).await;
        let (_, rss) = cpu_and_rss(&pids);
        low = low.min(rss);
        high = high.max(rss);
    }
    let alive = holders.iter().filter(|h| !h.is_finished()).count();
    let per_conn = (rss1.saturating_sub(rss0)) as f64 / args.connections.max(1) as f64;
    let report = json!({ "scenario": "idle", "connections": args.connections, "alive_after_hold": alive,
        "rss_before_mib": rss0 as f64 / 1048576.0, "rss_after_mib": rss1 as f64 / 1048576.0,
        "rss_per_connection_kib": per_conn / 1024.0, "hold_s": args.hold,
        "rss_hold_min_mib": low as f64 / 1048576.0, "rss_hold_max_mib": high as f64 / 1048576.0 });
    if json_out {
        println!("{report}");
    } else {
        println!(
            "idle: {} connections ({alive} alive after {} s)",
            args.connections, args.hold
        );
        println!(
            "  server RSS {:.1} → {:.1} MiB: {:.1} KiB per connection; during the hold {:.1}..{:.1} MiB",
            rss0 as f64 / 1048576.0,
            rss1 as f64 / 1048576.0,
            per_conn / 1024.0,
            low as f64 / 1048576.0,
            high as f64 / 1048576.0
        );
    }
    for h in holders {
        h.abort();
    }
    Ok(())
}
