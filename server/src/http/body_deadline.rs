//! Request bodies arrive in time or not at all: a body is read whole before its handler runs, within
//! `request_body_timeout` plus one second per `MIN_RATE` bytes it announces; a client that sends its
//! headers and then trickles (or stops) gets 408 and the connection is closed, so it holds no slot
//! for long. (hyper already gives up on headers that do not finish in 30 s.)

use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// Bytes per second a body must at least arrive at, once the base timeout is used up.
const MIN_RATE: u64 = 8 * 1024;
/// Largest body read at all (the handlers have their own, smaller limits).
const MAX_BODY: usize = 4 * 1024 * 1024;

/// The middleware: reads the body within its deadline, then runs the handler with it.
pub async fn read_in_time(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced == Some(0) || (announced.is_none() && !parts.headers.contains_key(header::TRANSFER_ENCODING)) {
        return next.run(Request::from_parts(parts, body)).await;
    }
    let deadline = state.config.server.request_body_timeout + Duration::from_secs(announced.unwrap_or(0) / MIN_RATE);
    match tokio::time::timeout(deadline, to_bytes(body, MAX_BODY)).await {
        Ok(Ok(bytes)) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Ok(Err(_)) => refuse(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body over {MAX_BODY} bytes, or cut off\n"),
        ),
        Err(_) => refuse(
            StatusCode::REQUEST_TIMEOUT,
            format!("request body not received within {} s\n", deadline.as_secs()),
        ),
    }
}

fn refuse(status: StatusCode, message: String) -> Response {
    let mut response = (status, message).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
