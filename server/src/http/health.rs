//! `/healthz` (the process answers) and `/readyz` (store and bus reachable, not draining).

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok\n"
}

pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if state.shutdown.is_stopping() {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n");
    }
    if !state.publisher.bus_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, "bus unreachable\n");
    }
    if !state.store.ping().await {
        return (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n");
    }
    (StatusCode::OK, "ready\n")
}
