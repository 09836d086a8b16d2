//! herald-bench: drives any Pusher-protocol server and reports what it saw.
//!
//! - `fanout`: C subscribers over K channels, M messages through the signed HTTP API at a fixed rate
//!   or as fast as N requests in flight allow; deliveries/s, publish-to-receive latency, lost and
//!   duplicated deliveries, the server's CPU seconds per delivery and RSS (from /proc, `--pid`).
//!   `--publish-server` sends the publishes to another node (the cross-node scenario).
//! - `publish`: HTTP publishes alone: publishes/s, request latency, the server's CPU per publish.
//! - `idle`: C connections held open (pings answered), RSS growth per connection, memory over the hold.
//! - `floor`: no server: how long the machine's loopback takes to carry one message to N sockets.
//!
//! Subscribers' sockets are read by dedicated threads over epoll, frames parsed in place and stamps
//! found by a substring scan (no JSON parse): the tool must not be the bottleneck it measures.

mod arrival;
mod fanout;
mod floor;
mod frames;
mod idle;
mod process;
mod publish;
mod pusher;
mod reader;
mod stamp;
mod stats;
mod swarm;

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use serde_json::json;

use pusher::Target;
use stats::{Latencies, Percentiles};

#[derive(Parser)]
#[command(name = "herald-bench", about = "Load tool for Pusher-protocol servers")]
struct Cli {
    /// Print one JSON line instead of the human summary.
    #[arg(long, global = true)]
    json: bool,
    /// Threads of the tool's async runtime (connecting, subscribing, publishing).
    #[arg(long, global = true, default_value_t = 2)]
    threads: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Fanout(FanoutArgs),
    Publish(PublishArgs),
    Idle(IdleArgs),
    Floor(FloorArgs),
    /// A share of a cluster-scale swarm of connections (bench/cluster-scale.sh).
    Swarm(swarm::SwarmArgs),
    /// The numbered publisher of a swarm run.
    SwarmPublish(swarm::publisher::PublisherArgs),
}

/// No server: how long this machine's loopback takes to carry one message to N sockets.
#[derive(clap::Args)]
struct FloorArgs {
    #[arg(long, default_value_t = 100)]
    sockets: usize,
    /// Threads writing (as a server's worker threads would).
    #[arg(long, default_value_t = 1)]
    writers: usize,
    #[arg(long, default_value_t = 200)]
    bursts: usize,
    #[arg(long, default_value_t = 150)]
    message_bytes: usize,
}

/// How messages are published (shared by `fanout` and `publish`).
#[derive(clap::Args, Clone)]
struct PublishOptions {
    #[arg(long, default_value_t = 1)]
    channels: usize,
    #[arg(long, default_value_t = 1000)]
    messages: u64,
    /// Publishes per second; 0 = as fast as `--inflight` allows.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    #[arg(long, default_value_t = 16)]
    inflight: usize,
    /// Server pid(s) to read CPU and RSS from, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pid: Vec<u32>,
}

impl PublishOptions {
    fn plan(&self, prefix: &str) -> publish::Plan {
        publish::Plan {
            messages: self.messages,
            channels: self.channels,
            rate: self.rate,
            inflight: self.inflight,
            prefix: prefix.into(),
        }
    }

    fn pace(&self) -> String {
        if self.rate == 0 {
            format!("max rate ({} in flight)", self.inflight)
        } else {
            format!("{}/s", self.rate)
        }
    }
}

#[derive(clap::Args)]
struct FanoutArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    publish: PublishOptions,
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// Publish through this node instead (cross-node fan-out).
    #[arg(long)]
    publish_server: Option<SocketAddr>,
    /// Threads reading the subscribers' sockets.
    #[arg(long, default_value_t = 1)]
    reader_threads: usize,
    /// Also report, per message, its first delivery's latency and the spread to its last delivery.
    #[arg(long)]
    spread: bool,
}

#[derive(clap::Args)]
struct PublishArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    publish: PublishOptions,
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

pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

pub fn unix_secs() -> u64 {
    (now_ns() / 1_000_000_000) as u64
}

/// CPU seconds and RSS bytes summed over `pids`.
pub fn cpu_and_rss(pids: &[u32]) -> (f64, u64) {
    pids.iter()
        .filter_map(|p| process::sample(*p).ok())
        .fold((0.0, 0), |(c, r), s| (c + s.cpu_seconds, r + s.rss_bytes))
}

const MIB: f64 = 1048576.0;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let report = match cli.command {
        Command::Fanout(args) => fanout(args).await?,
        Command::Publish(args) => publish(args).await?,
        Command::Idle(args) => idle(args).await?,
        Command::Floor(args) => floor(args).await?,
        Command::Swarm(args) => streamed(swarm::run(args).await?),
        Command::SwarmPublish(args) => streamed(swarm::publisher::run(args).await?),
    };
    if cli.json {
        println!("{}", report.json);
    } else {
        print!("{}", report.text);
    }
    Ok(())
}

/// The last line of a scenario that prints JSON lines as it goes: the same in both forms.
fn streamed(json: serde_json::Value) -> Printed {
    let text = format!("{json}\n");
    Printed { json, text }
}

/// A scenario's result: one JSON line and a human summary.
struct Printed {
    json: serde_json::Value,
    text: String,
}

fn latency_line(what: &str, p: &Percentiles) -> String {
    format!(
        "  {what} ms p50 {:.2} p90 {:.2} p99 {:.2} p999 {:.2} max {:.2}\n",
        p.p50, p.p90, p.p99, p.p999, p.max
    )
}

async fn fanout(args: FanoutArgs) -> anyhow::Result<Printed> {
    let mut publish_to = args.target.clone();
    if let Some(other) = args.publish_server {
        publish_to.server = other;
    }
    let plan = args.publish.plan("bench-");
    let pids = &args.publish.pid;
    let (cpu0, _) = cpu_and_rss(pids);
    let r = fanout::run(
        &args.target,
        &publish_to,
        args.subscribers,
        args.reader_threads,
        args.spread,
        &plan,
    )
    .await?;
    let (cpu1, rss) = cpu_and_rss(pids);
    let per_sec = r.delivered as f64 / r.elapsed.as_secs_f64();
    let cpu_us = if r.delivered > 0 {
        (cpu1 - cpu0) * 1e6 / r.delivered as f64
    } else {
        0.0
    };
    let pp = r.publish.latencies.percentiles();
    let stamped = r.arrival.latencies.count() > 0;
    let mut json = json!({
        "arrival": stamped.then(|| timed_json(&r.arrival)),
        "scenario": "fanout", "subscribers": args.subscribers, "channels": plan.channels, "messages": plan.messages,
        "rate": plan.rate, "published_per_sec": plan.messages as f64 / r.publish.elapsed.as_secs_f64(),
        "publish_failed": r.publish.failed, "deliveries": r.delivered, "deliveries_per_sec": per_sec,
        "lost": r.lost, "duplicated": r.duplicated,
        "publish_latency_ms": pp, "server_cpu_us_per_delivery": cpu_us, "server_rss_mib": rss as f64 / MIB,
    });
    // Timed by the tool's read: at the top level, where it has always been.
    if let (Some(top), serde_json::Value::Object(read)) = (json.as_object_mut(), timed_json(&r.read)) {
        top.extend(read);
    }
    let mut text = format!(
        "fan-out: {} subscribers on {} channel(s), {} messages at {}\n",
        args.subscribers,
        plan.channels,
        plan.messages,
        args.publish.pace()
    );
    text += &format!(
        "  deliveries {} ({per_sec:.0}/s), lost {}, duplicated {}, publishes failed {}\n",
        r.delivered, r.lost, r.duplicated, r.publish.failed
    );
    text += &latency_line("publish request", &pp);
    text += &timed_lines(&r.read, ["latency", "first delivery", "first to last delivery"]);
    if stamped {
        text += &timed_lines(
            &r.arrival,
            ["latency to arrival", "first arrival", "first to last arrival"],
        );
    }
    text += &format!(
        "  server CPU {cpu_us:.2} µs/delivery, RSS {:.1} MiB\n",
        rss as f64 / MIB
    );
    Ok(Printed { json, text })
}

/// Deliveries timed one way, for the JSON line.
fn timed_json(timed: &fanout::Timed) -> serde_json::Value {
    json!({
        "latency_ms": timed.latencies.percentiles(), "latency_samples": timed.latencies.count(),
        "first_delivery_ms": timed.first.as_ref().map(Latencies::percentiles),
        "fanout_spread_ms": timed.spread.as_ref().map(Latencies::percentiles),
    })
}

/// Deliveries timed one way, for the summary: the latency, and with `--spread` the first delivery and
/// the spread, under the three `names`.
fn timed_lines(timed: &fanout::Timed, names: [&str; 3]) -> String {
    let mut text = latency_line(names[0], &timed.latencies.percentiles());
    if let (Some(first), Some(spread)) = (&timed.first, &timed.spread) {
        text += &latency_line(names[1], &first.percentiles());
        text += &latency_line(names[2], &spread.percentiles());
    }
    text
}

async fn publish(args: PublishArgs) -> anyhow::Result<Printed> {
    let plan = args.publish.plan("bench-publish-");
    let pids = &args.publish.pid;
    let own = [std::process::id()];
    let ((cpu0, _), (own0, _)) = (cpu_and_rss(pids), cpu_and_rss(&own));
    let r = publish::run(&args.target, &plan).await?;
    let ((cpu1, rss), (own1, _)) = (cpu_and_rss(pids), cpu_and_rss(&own));
    let ok = plan.messages - r.failed;
    let per_sec = ok as f64 / r.elapsed.as_secs_f64();
    let per_publish = |seconds: f64| if ok > 0 { seconds * 1e6 / ok as f64 } else { 0.0 };
    let (cpu_us, own_us) = (per_publish(cpu1 - cpu0), per_publish(own1 - own0));
    let p = r.latencies.percentiles();
    let json = json!({
        "scenario": "publish", "channels": plan.channels, "messages": plan.messages, "rate": plan.rate,
        "inflight": plan.inflight, "publishes_per_sec": per_sec, "failed": r.failed, "latency_ms": p,
        "server_cpu_us_per_publish": cpu_us, "server_rss_mib": rss as f64 / MIB,
        "load_tool_cpu_us_per_publish": own_us,
    });
    let mut text = format!(
        "publish: {} messages over {} channel(s) at {}, no subscribers\n",
        plan.messages,
        plan.channels,
        args.publish.pace()
    );
    text += &format!("  {ok} accepted ({per_sec:.0}/s), {} failed\n", r.failed);
    text += &latency_line("request", &p);
    text += &format!("  server CPU {cpu_us:.1} µs/publish, RSS {:.1} MiB\n", rss as f64 / MIB);
    text += &format!("  load tool CPU {own_us:.1} µs/publish\n");
    Ok(Printed { json, text })
}

async fn floor(args: FloorArgs) -> anyhow::Result<Printed> {
    let (sockets, writers, bursts, bytes) = (args.sockets, args.writers, args.bursts, args.message_bytes);
    let widths = tokio::task::spawn_blocking(move || floor::run(sockets, writers, bursts, bytes)).await??;
    let p = widths.to_read.percentiles();
    // Where the kernel stamped nothing, there is no arrival to report (as in `fanout`).
    let arrived = (widths.to_arrival.count() > 0).then(|| widths.to_arrival.percentiles());
    let json = json!({ "scenario": "floor", "sockets": sockets, "writers": writers, "bursts": bursts,
        "message_bytes": bytes, "burst_ms": p, "burst_to_arrival_ms": arrived });
    let mut text = format!(
        "floor: one {bytes}-byte message to each of {sockets} loopback sockets by {writers} thread(s), {bursts} bursts\n"
    );
    text += &latency_line("first write to last read", &p);
    if let Some(arrived) = &arrived {
        text += &latency_line("first write to last arrival", arrived);
    }
    Ok(Printed { json, text })
}

async fn idle(args: IdleArgs) -> anyhow::Result<Printed> {
    let pids: Vec<u32> = args.pid.into_iter().collect();
    let r = idle::run(&args.target, args.connections, Duration::from_secs(args.hold), &pids).await?;
    let per_conn = r.rss_after.saturating_sub(r.rss_before) as f64 / args.connections.max(1) as f64;
    let json = json!({ "scenario": "idle", "connections": args.connections, "alive_after_hold": r.alive_after_hold,
        "rss_before_mib": r.rss_before as f64 / MIB, "rss_after_mib": r.rss_after as f64 / MIB,
        "rss_per_connection_kib": per_conn / 1024.0, "hold_s": args.hold,
        "rss_hold_min_mib": r.rss_hold_min as f64 / MIB, "rss_hold_max_mib": r.rss_hold_max as f64 / MIB });
    let text = format!(
        "idle: {} connections ({} alive after {} s)\n  server RSS {:.1} → {:.1} MiB: {:.1} KiB per connection; during the hold {:.1}..{:.1} MiB\n",
        args.connections,
        r.alive_after_hold,
        args.hold,
        r.rss_before as f64 / MIB,
        r.rss_after as f64 / MIB,
        per_conn / 1024.0,
        r.rss_hold_min as f64 / MIB,
        r.rss_hold_max as f64 / MIB
    );
    Ok(Printed { json, text })
}
