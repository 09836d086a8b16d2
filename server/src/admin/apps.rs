//! Apps of a tenant: create, read, change settings, delete, live stats.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Body, PathParams};
use super::tenants::TenantPath;
use crate::state::AppState;
use crate::store::{App, AppKey, AppPatch, NewApp, SettingsPatch};
use crate::webhooks::egress::EgressPolicy;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApp {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// 1 to 64 characters of `[A-Za-z0-9_-]`, unique; generated (7 digits) when left out.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub id: Option<String>,
    #[serde(default)]
    pub settings: Option<SettingsPatch>,
}

impl CreateApp {
    /// The app to create: its key and secret generated, its settings the defaults with these.
    pub fn into_new_app(self) -> NewApp {
        NewApp {
            name: self.name,
            id: self.id,
            key: None,
            secret: None,
            settings: self.settings.unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateApp {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Only the settings given change; nodes apply them within a second.
    pub settings: Option<SettingsPatch>,
}

/// A new app and its first key, whose secret is shown only here.
#[derive(Serialize, ToSchema)]
pub struct CreatedApp {
    pub app: App,
    pub key: AppKey,
}

/// Live figures of an app over the whole cluster.
#[derive(Serialize, ToSchema)]
pub struct AppStats {
    pub app_id: String,
    pub connections: usize,
    pub channels: usize,
    /// Channel messages accepted (HTTP API events per channel, client events) since the node started.
    pub messages_in: u64,
    /// Frames delivered to subscribers since the node started.
    pub messages_out: u64,
}

/// An app named in the path: app ids are 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path segment the handlers read
pub(crate) struct AppPath {
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    app_id: String,
}

/// The app, after checking the caller may read its tenant.
pub(super) async fn readable(state: &AppState, who: &Principal, app_id: &str) -> Result<App, AdminError> {
    let app = state.store.get_app(app_id).await?;
    who.read(&app.tenant_id)?;
    Ok(app)
}

/// Checks settings against the operator's ceilings and egress policy.
async fn check_settings(state: &AppState, settings: &SettingsPatch) -> Result<(), AdminError> {
    let egress = EgressPolicy {
        allowed: state.config.webhooks.allowed_networks.clone(),
    };
    super::settings_check::check(&state.config.app_ceilings, &egress, settings).await
}

/// The app, after checking the caller may change its tenant.
pub(super) async fn writable(state: &AppState, who: &Principal, app_id: &str) -> Result<App, AdminError> {
    let app = readable(state, who, app_id).await?;
    who.write(&app.tenant_id)?;
    Ok(app)
}

#[utoipa::path(operation_id = "list_apps", get, path = "/api/v1/tenants/{tenant_id}/apps", tag = "apps", security(("bearer" = [])),
    params(TenantPath), responses((status = 200, body = [App]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
) -> Result<Json<Vec<App>>, AdminError> {
    who.read(&tenant_id)?;
    state.store.get_tenant(&tenant_id).await?;
    Ok(Json(state.store.list_apps(Some(&tenant_id)).await?))
}

/// Create an app with its first key. The key's secret is in this response only.
#[utoipa::path(operation_id = "create_app", post, path = "/api/v1/tenants/{tenant_id}/apps", tag = "apps", security(("bearer" = [])),
    params(TenantPath), request_body = CreateApp,
    responses((status = 201, body = CreatedApp), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
    Body(req): Body<CreateApp>,
) -> Result<(StatusCode, Json<CreatedApp>), AdminError> {
    who.write(&tenant_id)?;
    let new = req.into_new_app();
    check_settings(&state, &new.settings).await?;
    let created = state.store.create_app(&tenant_id, new, &who.actor).await?;
    super::apply_now(&state).await;
    let key = created.keys.into_iter().next().ok_or(AdminError::Internal)?;
    Ok((StatusCode::CREATED, Json(CreatedApp { app: created.app, key })))
}

#[utoipa::path(operation_id = "get_app", get, path = "/api/v1/apps/{app_id}", tag = "apps", security(("bearer" = [])),
    params(AppPath), responses((status = 200, body = App), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
) -> Result<Json<App>, AdminError> {
    Ok(Json(readable(&state, &who, &app_id).await?))
}

/// Rename an app or change its settings.
#[utoipa::path(operation_id = "update_app", patch, path = "/api/v1/apps/{app_id}", tag = "apps", security(("bearer" = [])),
    params(AppPath), request_body = UpdateApp,
    responses((status = 200, body = App), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Body(req): Body<UpdateApp>,
) -> Result<Json<App>, AdminError> {
    writable(&state, &who, &app_id).await?;
    let settings = req.settings.unwrap_or_default();
    check_settings(&state, &settings).await?;
    let patch = AppPatch {
        name: req.name,
        settings,
    };
    let app = state.store.update_app(&app_id, patch, &who.actor).await?;
    super::apply_now(&state).await;
    Ok(Json(app))
}

/// Delete an app and its keys; its connections close.
#[utoipa::path(operation_id = "delete_app", delete, path = "/api/v1/apps/{app_id}", tag = "apps", security(("bearer" = [])),
    params(AppPath), responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
) -> Result<StatusCode, AdminError> {
    writable(&state, &who, &app_id).await?;
    state.store.delete_app(&app_id, &who.actor).await?;
    super::apply_now(&state).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Live connections, channels and message counts of an app, over every node.
#[utoipa::path(operation_id = "app_stats", get, path = "/api/v1/apps/{app_id}/stats", tag = "apps", security(("bearer" = [])),
    params(AppPath), responses((status = 200, body = AppStats), (status = 404, body = ErrorBody)))]
pub async fn stats(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
) -> Result<Json<AppStats>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let stats = state.nodes.app_stats(&Arc::from(app_id.as_str())).await;
    Ok(Json(AppStats {
        connections: stats.connections,
        channels: stats.channels.len(),
        messages_in: stats.messages_in,
        messages_out: stats.messages_out,
        app_id,
    }))
}
