//! `/healthz` (the process answers), `/readyz` (bus reachable, not draining, control data loaded) and
//! `/metrics` (Prometheus text format).
//!
//! A node whose database goes away keeps serving realtime traffic from its cached apps and keys, so
//! it stays ready; its admin writes answer 503 meanwhile, and the body of `/readyz` says so.

use axum::extract::State;
use axum::http::StatusCode;

use crate::metrics::{AppFigures, NodeFigures};
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

/// Prometheus metrics of this node.
pub async fn metrics(State(state): State<AppState>) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    // The one figure that needs the store is read first, so the hub's gauges and the counters are read
    // with no await between them (a scrape is still no atomic snapshot: a connection closing during it
    // can be counted as closed while the gauge read a moment before still holds it).
    let webhook_queue = state.store.pending_webhooks().await.ok().map(|n| n.max(0) as u64);
    let apps = state
        .apps
        .app_ids()
        .into_iter()
        .map(|app| {
            let channels = state.hub.channels.channels_of(&app);
            AppFigures {
                connections: state.hub.app_connection_count(&app),
                channels: channels.len(),
                subscriptions: channels.iter().map(|(_, subs, _)| subs).sum(),
                deliveries: state.hub.delivered(&app),
                app,
            }
        })
        .collect();
    let figures = NodeFigures {
        apps,
        bus_up: state.publisher.bus_ready(),
        store_up: state.apps.store_reachable(),
        webhook_queue,
        traffic: state.hub.traffic(),
    };
    // prometheus-client writes the OpenMetrics text format (Prometheus reads it).
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (
        [(axum::http::header::CONTENT_TYPE, content_type)],
        state.events.metrics().render(figures),
    )
}
