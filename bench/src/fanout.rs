//! The fan-out scenario: C subscribers over K channels, M messages published through the HTTP API;
//! every delivery is checked for loss and duplication and timed from its publish. Subscribers connect
//! and subscribe with tokio-tungstenite, then their sockets are read by the lean readers (`reader`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::MaybeTlsStream;

use crate::arrival;
use crate::publish::{self, Plan};
use crate::pusher::{self, Target};
use crate::reader::{self, Subscriber, Timing};
use crate::stats::Latencies;

/// What the whole run saw.
pub struct Report {
    pub delivered: u64,
    pub lost: u64,
    pub duplicated: u64,
    /// Timed until the tool read each delivery.
    pub read: Timed,
    /// Timed until each delivery reached its socket (empty where the kernel does not stamp).
    pub arrival: Timed,
    pub publish: publish::Outcome,
    /// From the first publish until the last delivery (or the end of the grace period).
    pub elapsed: Duration,
}

/// The run's deliveries, timed one way.
#[derive(Default)]
pub struct Timed {
    pub latencies: Latencies,
    /// With `spread`: per message, its first delivery's latency, and the time from its first to its
    /// last delivery (how long the fan-out of one message takes).
    pub first: Option<Latencies>,
    pub spread: Option<Latencies>,
}

impl Timed {
    fn of<'a>(timings: impl Iterator<Item = &'a Timing> + Clone, channels: usize, spread: bool) -> Self {
        let mut timed = Timed::default();
        for timing in timings.clone() {
            timed.latencies.merge(&timing.latencies);
        }
        if spread {
            let (first, width) = spreads(timings, channels);
            timed.first = Some(first);
            timed.spread = Some(width);
        }
        timed
    }
}

/// How long subscribers may still receive after the last publish was answered.
const GRACE: Duration = Duration::from_secs(10);

/// Subscribes `subscribers` sockets (round-robin over the channels), hands them to `reader_threads`
/// reader threads, then publishes.
pub async fn run(
    subscribe_to: &Target,
    publish_to: &Target,
    subscribers: usize,
    reader_threads: usize,
    spread: bool,
    plan: &Plan,
) -> anyhow::Result<Report> {
    let channels = plan.channels.max(1);
    let expected = |c: usize| (plan.messages + (channels - c - 1) as u64) / channels as u64;
    let joins: Vec<_> = (0..subscribers)
        .map(|i| {
            let (target, name) = (subscribe_to.clone(), format!("{}{}", plan.prefix, i % channels));
            tokio::spawn(async move { subscribed(&target, i, &name).await })
        })
        .collect();
    let mut subs = Vec::with_capacity(subscribers);
    for (i, join) in joins.into_iter().enumerate() {
        let socket = join.await??;
        let MaybeTlsStream::Plain(stream) = socket.into_inner() else {
            anyhow::bail!("the load tool speaks plain WebSockets only");
        };
        let stream = stream.into_std()?;
        // Early: the kernel turns stamping on a moment after the first socket asks for it.
        arrival::enable(&stream);
        subs.push(Subscriber {
            stream,
            expected: expected(i % channels),
            by_seq: spread,
        });
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (ready, watching) = std::sync::mpsc::channel();
    let readers = {
        let stop = stop.clone();
        std::thread::spawn(move || reader::run(subs, reader_threads, stop, ready))
    };
    // Publishing starts once every reader watches its sockets.
    let threads = reader_threads.max(1);
    tokio::task::spawn_blocking(move || (0..threads).try_for_each(|_| watching.recv())).await??;
    let started = Instant::now();
    let publish = publish::run(publish_to, plan).await?;
    let grace_end = Instant::now() + GRACE;
    while !readers.is_finished() && Instant::now() < grace_end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let tallies = tokio::task::spawn_blocking(move || readers.join())
        .await?
        .map_err(|_| anyhow::anyhow!("the readers panicked"))??;
    let mut report = Report {
        delivered: 0,
        lost: 0,
        duplicated: 0,
        read: Timed::of(tallies.iter().map(|t| &t.read), channels, spread),
        arrival: Timed::of(tallies.iter().map(|t| &t.arrival), channels, spread),
        publish,
        elapsed,
    };
    for tally in tallies {
        report.delivered += tally.seen.received();
        report.lost += tally.seen.lost();
        report.duplicated += tally.seen.duplicates();
    }
    Ok(report)
}

/// Per message (channel, sequence number): the latency of its first delivery, and the time between
/// its first and last. Subscriber `i` is on channel `i % channels`.
fn spreads<'a>(timings: impl Iterator<Item = &'a Timing>, channels: usize) -> (Latencies, Latencies) {
    let mut bounds: Vec<Vec<(u32, u32)>> = vec![Vec::new(); channels];
    for (i, timing) in timings.enumerate() {
        let Some(by_seq) = &timing.by_seq else { continue };
        let channel = &mut bounds[i % channels];
        channel.resize(channel.len().max(by_seq.len()), (u32::MAX, 0));
        for (b, &us) in channel.iter_mut().zip(by_seq) {
            if us != u32::MAX {
                *b = (b.0.min(us), b.1.max(us));
            }
        }
    }
    let (mut first, mut width) = (Latencies::default(), Latencies::default());
    for &(lo, hi) in bounds.iter().flatten().filter(|b| b.0 != u32::MAX) {
        first.record_us(lo as u64);
        width.record_us((hi - lo) as u64);
    }
    (first, width)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn timing(by_seq: Vec<u32>) -> Timing {
        Timing {
            latencies: Latencies::default(),
            by_seq: Some(by_seq),
        }
    }

    #[test]
    fn spread_is_per_message_over_the_subscribers_of_its_channel() {
        // Subscribers 0 and 2 are on channel 0, subscriber 1 on channel 1.
        let timings = [
            timing(vec![100, 300]),
            timing(vec![5_000, u32::MAX]),
            timing(vec![700, 200]),
        ];
        let (first, spread) = spreads(timings.iter(), 2);
        // channel 0: seq 0 → 100..700, seq 1 → 200..300; channel 1: seq 0 → 5000..5000 (seq 1 lost)
        assert_eq!(first.count(), 3);
        assert_eq!(spread.count(), 3);
        assert!((first.percentiles().max - 5.0).abs() < 0.01);
        assert!((spread.percentiles().max - 0.6).abs() < 0.01);
    }
}
