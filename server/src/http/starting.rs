//! The port while a node starts: before the node can serve (its control database may not answer
//! yet), `/healthz` says the process is up and `/readyz` says what it waits for (503), so a load
//! balancer or an operator sees why; every other request gets 503 too. Each connection gets one
//! answer and is closed.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpListener;

/// What the node is waiting for, as `/readyz` says it.
pub type StartingStatus = Arc<Mutex<String>>;

/// Runs `starting` to completion, answering on `listener` meanwhile; the listener is left as it
/// was (connections accepted afterwards are the node's).
pub async fn answer_while<F: Future>(listener: &TcpListener, status: StartingStatus, starting: F) -> F::Output {
    tokio::pin!(starting);
    loop {
        tokio::select! {
            done = &mut starting => return done,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let status = status.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(request, status.clone()));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}

async fn answer(request: Request<Incoming>, status: StartingStatus) -> Result<Response<Body>, Infallible> {
    let (code, text) = match request.uri().path() {
        "/healthz" => (StatusCode::OK, "ok\n".to_string()),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("starting: {}\n", status.lock()),
        ),
    };
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = code;
    Ok(response)
}
