//! `/healthz` (the process answers) and `/readyz` (bus reachable, not draining, control data loaded).
//!
//! A node whose database goes away keeps serving realtime traffic from its cached apps and keys, so
//! it stays ready; its admin writes answer 503 meanwhile, and the body of `/readyz` says so.

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
    if !state.apps.store_reachable() && !state.store.ping().await {
        return (
            StatusCode::OK,
            "ready (store unreachable: serving cached apps and keys; admin writes fail)\n",
        );
    }
    (StatusCode::OK, "ready\n")
}
