//! The admin API under `/api/v1`: tenants, apps, keys, admins, API tokens, audit log, app stats,
//! webhook deliveries.
//!
//! Handlers are thin: `Principal` says who calls and what they may do; the store does the work in
//! transactions; `AdminError` gives every failure one JSON shape. Described with utoipa: the
//! generated document (`crate::openapi`) is served at `/api/v1/openapi.json` and checked in as `openapi/openapi.json`.

pub(crate) mod admins;
pub(crate) mod apps;
pub(crate) mod audit;
pub mod auth;
pub(crate) mod channels;
pub(crate) mod connections;
mod error;
pub(crate) mod events;
pub(crate) mod failures;
mod json;
pub(crate) mod keys;
mod login_limiter;
pub(crate) mod messages;
pub mod password;
mod refresh_cookie;
pub(crate) mod session;
pub(crate) mod settings_check;
pub(crate) mod stats;
pub(crate) mod tenants;
pub(crate) mod webhooks;

pub use auth::AdminAuth;
pub use error::AdminError;

use axum::routing::{delete, get, post};
use axum::Router;

use crate::state::AppState;

/// Reloads this node's app directory after a write, so the change applies here at once (other
/// nodes pick it up within their refresh interval), and closes what the change revoked.
pub(crate) async fn apply_now(state: &AppState) {
    if let Ok(Some(revoked)) = state.apps.refresh(state.store.as_ref()).await {
        state.hub.close_revoked(&revoked);
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(session::login))
        .route("/auth/refresh", post(session::refresh))
        .route("/auth/logout", post(session::logout))
        .route("/auth/password", post(session::change_password))
        .route("/me", get(session::me))
        .route("/tenants", get(tenants::list).post(tenants::create))
        .route(
            "/tenants/{tenant_id}",
            get(tenants::get).patch(tenants::update).delete(tenants::delete),
        )
        .route("/tenants/{tenant_id}/apps", get(apps::list).post(apps::create))
        .route(
            "/tenants/{tenant_id}/tokens",
            get(admins::list_tokens).post(admins::create_token),
        )
        .route("/tenants/{tenant_id}/tokens/{token_id}", delete(admins::revoke_token))
        .route("/tenants/{tenant_id}/audit", get(audit::list))
        .route(
            "/apps/{app_id}",
            get(apps::get).patch(apps::update).delete(apps::delete),
        )
        .route("/apps/{app_id}/stats", get(apps::stats))
        .route("/apps/{app_id}/stats/series", get(stats::series_of))
        .route("/apps/{app_id}/messages", post(messages::publish_message))
        .route("/apps/{app_id}/channels", get(channels::list))
        .route("/apps/{app_id}/channels/{name}", get(channels::get))
        .route("/apps/{app_id}/channels/{name}/members", get(channels::members))
        .route("/apps/{app_id}/channels/{name}/history", get(channels::history))
        .route("/apps/{app_id}/webhooks/deliveries", get(webhooks::deliveries))
        .route(
            "/apps/{app_id}/webhooks/deliveries/{delivery_id}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/apps/{app_id}/webhooks/test", post(webhooks::test))
        .route("/apps/{app_id}/connections/failed", get(failures::failed))
        .route("/apps/{app_id}/connections", get(connections::list))
        .route("/apps/{app_id}/events", get(events::list))
        .route("/apps/{app_id}/events/live", get(events::live))
        .route(
            "/apps/{app_id}/connections/{socket_id}",
            get(connections::get).delete(connections::disconnect),
        )
        .route("/apps/{app_id}/keys", get(keys::list).post(keys::create))
        .route("/apps/{app_id}/keys/{key}", delete(keys::revoke).patch(keys::update))
        .route("/admins", get(admins::list).post(admins::create))
        .route("/admins/{admin_id}", delete(admins::delete).patch(admins::update))
        .fallback(|| async { AdminError::NotFound("no such admin API route; see /api/v1/openapi.json".into()) })
}
