//! Signed HTTP publishes, paced at a fixed rate or as fast as a bounded number of requests in flight
//! allow, each timed from just before it is sent to its response: `run` (on `driver`'s thread), and
//! `Connections` for the swarm's publisher, whose publishes move between nodes.

mod driver;
mod response;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

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

/// Publishes `plan` to `target` on a thread of its own (`driver`).
pub async fn run(target: &Target, plan: &Plan) -> anyhow::Result<Outcome> {
    let (target, plan) = (target.clone(), plan.clone());
    Ok(tokio::task::spawn_blocking(move || driver::drive(&target, &plan)).await??)
}

/// The bytes of one signed `POST /apps/{id}/events` with the stamp of message `seq`, stamped now.
fn request_bytes(target: &Target, channel: &str, seq: u64) -> Vec<u8> {
    let body = serde_json::json!({ "name": "bench", "channel": channel, "data": stamp::data(seq, crate::now_ns()) })
        .to_string();
    let path = pusher::signed_events_path(target, body.as_bytes(), crate::unix_secs());
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        target.server,
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body.as_bytes());
    request
}

/// Whether the server answered `Connection: close`.
fn closes(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(hyper::header::CONNECTION)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"))
}

/// Keep-alive HTTP/1.1 connections shared by many tasks (the swarm's publisher, whose publishes move
/// between nodes), one request at a time each, each driven by a task of its own; `run` uses `driver` instead.
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
        let keep = !closes(response.headers());
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use http_body_util::BodyExt;
    use hyper::service::service_fn;

    /// What the test server saw: each publish's (channel, seq), and the connections it accepted.
    #[derive(Default)]
    struct Seen {
        publishes: Mutex<Vec<(String, u64)>>,
        connections: AtomicU64,
    }

    /// A server that answers every publish 200 but seq 3 of channel `p0` (503), and every 7th with
    /// `Connection: close`.
    async fn server(seen: Arc<Seen>) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                seen.connections.fetch_add(1, Ordering::Relaxed);
                let seen = seen.clone();
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
                        let data: serde_json::Value = serde_json::from_str(event["data"].as_str().unwrap()).unwrap();
                        let (channel, seq) = (
                            event["channel"].as_str().unwrap().to_string(),
                            data["s"].as_u64().unwrap(),
                        );
                        let mut publishes = seen.publishes.lock().unwrap();
                        publishes.push((channel.clone(), seq));
                        let mut response = hyper::Response::builder();
                        if publishes.len().is_multiple_of(7) {
                            response = response.header(hyper::header::CONNECTION, "close");
                        }
                        let status = if channel == "p0" && seq == 3 { 503 } else { 200 };
                        let response = response.status(status).body(Full::new(Bytes::from_static(b"{}")));
                        Ok::<_, std::convert::Infallible>(response.unwrap())
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        address
    }

    fn target(server: std::net::SocketAddr) -> Target {
        Target {
            server,
            app_id: "1".into(),
            key: "k".into(),
            secret: "s".into(),
            source_ips: vec![],
        }
    }

    #[tokio::test]
    async fn every_message_is_published_once_over_closed_and_reopened_connections() {
        let seen = Arc::new(Seen::default());
        let plan = Plan {
            messages: 200,
            channels: 5,
            rate: 0,
            inflight: 8,
            prefix: "p".into(),
        };
        let outcome = run(&target(server(seen.clone()).await), &plan).await.unwrap();
        assert_eq!(outcome.failed, 1, "seq 3 of p0 is refused");
        assert_eq!(outcome.latencies.count(), 199);
        let publishes = seen.publishes.lock().unwrap().clone();
        let expected: BTreeSet<(String, u64)> = (0..200).map(|i| (format!("p{}", i % 5), i / 5)).collect();
        assert_eq!(publishes.len(), 200, "each message is sent once");
        assert_eq!(publishes.into_iter().collect::<BTreeSet<_>>(), expected);
        assert!(
            seen.connections.load(Ordering::Relaxed) > 8,
            "connections the server closed were opened again"
        );
    }

    #[tokio::test]
    async fn a_paced_run_takes_about_messages_over_rate() {
        let seen = Arc::new(Seen::default());
        let plan = Plan {
            messages: 20,
            channels: 1,
            rate: 100,
            inflight: 4,
            prefix: "q".into(),
        };
        let outcome = run(&target(server(seen.clone()).await), &plan).await.unwrap();
        assert_eq!((outcome.failed, outcome.latencies.count()), (0, 20));
        // 20 ticks at 100/s: the first at once, the last 190 ms later.
        assert!(outcome.elapsed >= Duration::from_millis(180), "{:?}", outcome.elapsed);
    }

    #[tokio::test]
    async fn publishes_nobody_answers_are_counted_failed_without_waiting() {
        // Nothing listens: every connection is refused.
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // A server that reads a request and closes the connection without an answer.
        let hang_up = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let hang_up_address = hang_up.local_addr().unwrap();
        std::thread::spawn(move || {
            for mut stream in hang_up.incoming().flatten() {
                let _ = std::io::Read::read(&mut stream, &mut [0u8; 4096]);
            }
        });
        for server in [refused, hang_up_address] {
            let plan = Plan {
                messages: 12,
                channels: 2,
                rate: 0,
                inflight: 3,
                prefix: "f".into(),
            };
            let outcome = tokio::time::timeout(Duration::from_secs(10), run(&target(server), &plan))
                .await
                .expect("a run ends when every publish has failed")
                .unwrap();
            assert_eq!((outcome.failed, outcome.latencies.count()), (12, 0), "{server}");
        }
    }
}
