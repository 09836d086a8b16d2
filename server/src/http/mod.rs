//! HTTP: the router of the one port (Pusher HTTP API, WebSocket endpoint, health checks).
//!
//! Handlers are thin: they validate, call the hub or the publisher, and shape the answer.

mod body_deadline;
mod channels;
mod clients;
pub mod console;
mod error;
mod events;
mod health;
pub(crate) mod history;
mod serve;
mod signed;
pub mod starting;
pub mod tls;
mod users;

pub use error::ApiError;
pub use serve::serve;

use axum::routing::{get, post};
use axum::Router;
use tower_http::trace::TraceLayer;

use crate::state::AppState;
use crate::ws;

/// The router of the optional metrics listener: `/metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new().route("/metrics", get(health::metrics)).with_state(state)
}

pub fn router(state: AppState) -> Router {
    // With a metrics listener of its own, the public port does not answer /metrics.
    let metrics = match state.config.server.metrics_listen {
        None => Router::new().route("/metrics", get(health::metrics)),
        Some(_) => Router::new(),
    };
    Router::new()
        .merge(metrics)
        .route("/app/{key}", get(ws::upgrade))
        .route("/apps/{app_id}/events", post(events::trigger))
        .route("/apps/{app_id}/batch_events", post(events::batch))
        .route("/apps/{app_id}/channels", get(channels::list))
        .route("/apps/{app_id}/channels/{name}", get(channels::show))
        .route("/apps/{app_id}/channels/{name}/users", get(channels::users))
        .route("/apps/{app_id}/channels/{name}/history", get(history::history))
        .route(
            "/apps/{app_id}/users/{user_id}/terminate_connections",
            post(users::terminate),
        )
        // The PyPI SDK sends terminate_connections without the /apps/{app_id} prefix.
        .route("/users/{user_id}/terminate_connections", post(users::terminate))
        .route(
            "/api/v1/openapi.json",
            get(|| async { axum::Json(<crate::openapi::ApiDoc as utoipa::OpenApi>::openapi()) }),
        )
        .nest("/api/v1", crate::admin::router())
        .route("/clients/pusher-js-resume.mjs", get(clients::pusher_js_resume))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .merge(console::router(state.config.server.console_dir.clone()))
        .fallback(ws::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body_deadline::read_in_time,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
