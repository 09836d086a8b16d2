//! Signed HTTP publishes, paced at a fixed rate or as fast as a bounded number of requests in flight
//! allow, each timed from just before it is sent to its response.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

use crate::pusher::{self, Target};
use crate::stamp;
use crate::stats::Latencies;

/// How to publish: `messages` messages over `channels` channels (`{prefix}{i}`), message `i` to
/// channel `i % channels` with sequence number `i / channels`.
#[derive(Clone, Debug)]
pub struct Plan {
    pub messages: u64,
    pub channels: usize,
    /// Publishes per second; 0 = as fast as `inflight` allows.
    pub rate: u64,
    pub inflight: usize,
    pub prefix: String,
}

/// What the publisher saw.
pub struct Outcome {
    /// Time from the first send to the last response.
    pub elapsed: Duration,
    pub failed: u64,
    /// Request latencies (send to response) of the successful publishes.
    pub latencies: Latencies,
}

pub async fn run(target: &Target, plan: &Plan) -> anyhow::Result<Outcome> {
    let http = Arc::new(Connections::default());
    let target = Arc::new(target.clone());
    let slots = Arc::new(Semaphore::new(plan.inflight.max(1)));
    let mut pace = (plan.rate > 0).then(|| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / plan.rate as f64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        interval
    });
    let channels = plan.channels.max(1) as u64;
    let started = Instant::now();
    let mut sends = Vec::with_capacity(plan.messages as usize);
    for i in 0..plan.messages {
        if let Some(p) = pace.as_mut() {
            p.tick().await;
        }
        let permit = slots.clone().acquire_owned().await?;
        let (http, target) = (http.clone(), target.clone());
        let channel = format!("{}{}", plan.prefix, i % channels);
        sends.push(tokio::spawn(async move {
            let sent = Instant::now();
            let ok = publish(&http, &target, &channel, i / channels).await;
            drop(permit);
            ok.then(|| sent.elapsed())
        }));
    }
    let mut outcome = Outcome {
        elapsed: Duration::ZERO,
        failed: 0,
        latencies: Latencies::default(),
    };
    for send in sends {
        match send.await.ok().flatten() {
            Some(took) => outcome.latencies.record_us(took.as_micros() as u64),
            None => outcome.failed += 1,
        }
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// One signed `POST /apps/{id}/events` with the stamp of message `seq`; true on a 2xx.
async fn publish(http: &Connections, target: &Target, channel: &str, seq: u64) -> bool {
    let data = stamp::data(seq, crate::now_ns());
    let body = serde_json::json!({ "name": "bench", "channel": channel, "data": data }).to_string();
    let path = pusher::signed_events_path(target, body.as_bytes(), crate::unix_secs());
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, target.server.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)));
    let Ok(request) = request else { return false };
    http.send(target.server, request).await
}

/// Keep-alive HTTP/1.1 connections, one request at a time each: a plain hyper client with nothing
/// between the request and the socket (the publish latency measured is the server's, not a pool's).
#[derive(Default)]
pub struct Connections {
    idle: std::sync::Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Connections {
    /// Sends `request` on an idle connection (or a new one); true on a 2xx. A connection the server
    /// closed (some answer `Connection: close`) is not used again.
    pub async fn send(&self, server: std::net::SocketAddr, request: hyper::Request<Full<Bytes>>) -> bool {
        let mut sender = loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match idle {
                Some(mut sender) => {
                    if sender.ready().await.is_ok() {
                        break sender;
                    }
                }
                None => match connect(server).await {
                    Ok(sender) => break sender,
                    Err(_) => return false,
                },
            }
        };
        let Ok(response) = sender.send_request(request).await else {
            return false;
        };
        let status = response.status();
        let keep = !response
            .headers()
            .get(hyper::header::CONNECTION)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
        // The body is read to the end so the connection can carry the next request.
        let read = response.into_body().collect().await.is_ok();
        if keep && read {
            self.idle.lock().unwrap_or_else(|e| e.into_inner()).push(sender);
        }
        read && status.is_success()
    }
}

async fn connect(server: std::net::SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(server).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}
