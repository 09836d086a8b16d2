//! WebSocket endpoint: `/app/{key}` upgrades, and the per-connection session speaking protocol v7.
//!
//! Owns what a connection does with its frames: the checks on connect, subscribe, client events and
//! signin. Channel and user state live in the hub; storing and routing messages is the publisher's.
//! Every refusal that ends a connection sends a `pusher:error` and then a close frame with the code.

mod client_event;
mod close;
mod handshake;
mod liveness;
mod session;
mod signin;
mod socket;
mod subscribe;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::protocol::CloseCode;
use crate::state::AppState;
use handshake::{Handshake, NotWebSocket};

/// What the client asked for when it connected.
pub struct ConnectRequest {
    pub key: String,
    pub protocol: Option<String>,
    pub origin: Option<String>,
    pub remote: IpAddr,
    pub user_agent: Option<String>,
    pub client: Option<String>,
    pub version: Option<String>,
}

/// `GET /app/{key}`: upgrades, then checks the request inside the socket so refusals get close codes.
pub async fn upgrade(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(mut params): Query<HashMap<String, String>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: Handshake,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let request = ConnectRequest {
        key,
        protocol: params.remove("protocol"),
        origin: header("origin"),
        remote: state
            .config
            .client_address(peer.ip(), header("x-forwarded-for").as_deref()),
        user_agent: header("user-agent").map(|ua| ua.chars().take(256).collect()),
        client: params.remove("client").map(|c| c.chars().take(32).collect()),
        version: params.remove("version").map(|v| v.chars().take(32).collect()),
    };
    ws.accept(move |stream, early| session::run(stream, early, state, request))
}

const NOT_FOUND: &str =
    "Not found: the Pusher HTTP API is under /apps/{app_id}/, the admin API under /api/v1/, WebSockets connect to /app/{key}\n";

/// Any other path: a WebSocket upgrade gets 4005, anything else 404.
pub async fn not_found(ws: Result<Handshake, NotWebSocket>, State(state): State<AppState>) -> Response {
    match ws {
        Ok(ws) => ws.accept(move |stream, early| async move {
            close::refuse_new(stream, early, &state.config, CloseCode::PathNotFound).await
        }),
        Err(_) => (StatusCode::NOT_FOUND, NOT_FOUND).into_response(),
    }
}
