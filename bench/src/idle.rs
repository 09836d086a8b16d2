//! The idle scenario: C connections held open (answering the server's pings), and what they cost the
//! server in memory, during and over the hold.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::pusher::{self, Target};

pub struct Report {
    pub alive_after_hold: usize,
    pub rss_before: u64,
    pub rss_after: u64,
    pub rss_hold_min: u64,
    pub rss_hold_max: u64,
}

/// Opens `connections` connections, waits for the server to settle, then holds them `hold`, reading
/// the server's RSS (summed over `pids`) every 10 s.
pub async fn run(target: &Target, connections: usize, hold: Duration, pids: &[u32]) -> anyhow::Result<Report> {
    let rss = || crate::cpu_and_rss(pids).1;
    let rss_before = rss();
    let mut sockets = Vec::with_capacity(connections);
    for i in 0..connections {
        let ip = target.source_ips[i % target.source_ips.len().max(1)];
        sockets.push(pusher::connect(target, ip).await?);
    }
    // Each socket reads in its own task, so server pings get their pongs.
    let holders: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| tokio::spawn(async move { while let Some(Ok(_)) = ws.next().await {} }))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss();
    let (mut low, mut high) = (rss_after, rss_after);
    let until = Instant::now() + hold;
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(10).min(until.saturating_duration_since(Instant::now()))).await;
        let now = rss();
        low = low.min(now);
        high = high.max(now);
    }
    let alive_after_hold = holders.iter().filter(|h| !h.is_finished()).count();
    holders.iter().for_each(|h| h.abort());
    Ok(Report {
        alive_after_hold,
        rss_before,
        rss_after,
        rss_hold_min: low,
        rss_hold_max: high,
    })
}
