//! The admin API under `/api/v1`: tenants, apps, keys, admins, API tokens, audit log, app stats,
//! webhook deliveries.
//!
//! Handlers are thin: `Principal` says who calls and what they may do; the store does the work in
//! transactions; `AdminError` gives every failure one JSON shape. Described with utoipa: the
//! generated document is served at `/api/v1/openapi.json` and checked in as `openapi/openapi.json`.

mod admins;
mod apps;
mod audit;
pub mod auth;
mod connections;
mod error;
mod events;
mod json;
mod keys;
pub mod password;
mod session;
mod tenants;
mod webhooks;

pub use auth::AdminAuth;
pub use error::AdminError;

use axum::routing::{delete, get, post};
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Herald admin API", description = "Tenants, apps, keys, admins and audit of a Herald installation, and the Pusher HTTP API's history extension."),
    paths(
        session::login, session::refresh, session::logout, session::me,
        tenants::list, tenants::create, tenants::get, tenants::update, tenants::delete,
        apps::list, apps::create, apps::get, apps::update, apps::delete, apps::stats,
        keys::list, keys::create, keys::revoke,
        admins::list, admins::create, admins::delete, admins::list_tokens, admins::create_token, admins::revoke_token,
        audit::list,
        webhooks::deliveries,
        connections::list, connections::get, connections::disconnect,
        events::list, events::live,
        crate::http::history::history,
    ),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "tenants"), (name = "apps"), (name = "keys"), (name = "admins"), (name = "tokens"), (name = "audit"), (name = "webhooks", description = "Webhook deliveries; the endpoints are app settings (`settings.webhooks`)"), (name = "connections"), (name = "events"), (name = "history", description = "Channel history, on the Pusher HTTP API (signed as Pusher signs requests)"))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("An access token (JWT) from /auth/login, or an API token (hrld_…)"))
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// Reloads this node's app directory after a write, so the change applies here at once (other
/// nodes pick it up within their refresh interval), and closes what the change revoked.
pub(crate) async fn apply_now(state: &AppState) {
    if let Ok(Some(revoked)) = state.apps.refresh(state.store.as_ref()).await {
        state.hub.close_revoked(&revoked);
    }
}

/// The OpenAPI document, as checked in at `openapi/openapi.json`.
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/login", post(session::login))
        .route("/auth/refresh", post(session::refresh))
        .route("/auth/logout", post(session::logout))
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
        .route("/apps/{app_id}/webhooks/deliveries", get(webhooks::deliveries))
        .route("/apps/{app_id}/connections", get(connections::list))
        .route("/apps/{app_id}/events", get(events::list))
        .route("/apps/{app_id}/events/live", get(events::live))
        .route(
            "/apps/{app_id}/connections/{socket_id}",
            get(connections::get).delete(connections::disconnect),
        )
        .route("/apps/{app_id}/keys", get(keys::list).post(keys::create))
        .route("/apps/{app_id}/keys/{key}", delete(keys::revoke))
        .route("/admins", get(admins::list).post(admins::create))
        .route("/admins/{admin_id}", delete(admins::delete))
        .route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
        .fallback(|| async { AdminError::NotFound("no such admin API route; see /api/v1/openapi.json".into()) })
}
