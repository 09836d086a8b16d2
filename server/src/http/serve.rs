//! The HTTP/1.1 server of the one port: accepts TCP connections, serves each with hyper (upgrades
//! allowed), and stops on shutdown.
//!
//! Herald serves its own connections rather than through `axum::serve` so that an upgraded
//! connection gives back its `TcpStream` (the WebSocket session writes to the socket without a task
//! in between; see `ws::socket`). Pusher clients and SDKs speak HTTP/1.1 only.
//! It owns connections until they are upgraded or closed; requests are the router's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::tls::Peers;
use crate::shutdown::Shutdown;

/// Serves `router` on `listener` until shutdown, then stops listening and lets the connections finish
/// their requests (idle keep-alive connections close at once), waiting until `grace` has passed
/// since the shutdown began. Returns when the shutdown began.
/// `relayed` names the real client of connections relayed by the TLS front (`tls`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    relayed: Option<Peers>,
    shutdown: Shutdown,
    grace: Duration,
) -> Instant {
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.stopping() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let relayed_from = relayed.as_ref().and_then(|p| p.get(&peer.port()).map(|a| *a));
                let peer = relayed_from.filter(|_| peer.ip().is_loopback()).unwrap_or(peer);
                connections.spawn(serve_connection(stream, peer, router.clone(), shutdown.clone()));
            }
            // Out of file descriptors, or the like: new connections wait, live ones go on.
            Err(e) if !is_connection_error(&e) => {
                tracing::error!(error = %e, "accepting connections failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(_) => {}
        }
    }
    let stopped = Instant::now();
    // New connections are refused from now on rather than accepted and left waiting.
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait()).await.is_err() {
        tracing::warn!("some HTTP requests did not finish within the shutdown grace period");
    }
    stopped
}

async fn serve_connection(stream: TcpStream, peer: SocketAddr, router: Router, shutdown: Shutdown) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move {
            let response = router.call(request.map(Body::new)).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    // With a timer, hyper gives up on a client that does not finish sending its request headers
    // (30 s).
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = shutdown.stopping() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, %peer, "HTTP connection ended with an error");
    }
}

/// Errors of one connection that was being accepted (the listener itself is fine).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(e.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
