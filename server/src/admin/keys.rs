//! App keys: create (the secret is shown once), list, set expiry, revoke. A revoked key is refused at once
//! (4001 on connect, 401 on HTTP) and its open connections close.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::apps::{readable, writable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Body, Params, PathParams};
use crate::state::AppState;
use crate::store::{AppKey, NewKey, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// At most 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    pub label: String,
    /// Unix seconds after which the key stops working.
    #[schema(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    pub expires_at: Option<i64>,
}

/// A key named in the path: keys are 1 to 64 characters of `[A-Za-z0-9_-]`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path segment the handlers read
pub(crate) struct KeyPath {
    #[param(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    key: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListKeys {
    /// Include secrets (tenant admins and owners only).
    #[serde(default)]
    pub include_secrets: bool,
}

#[utoipa::path(operation_id = "list_keys", get, path = "/api/v1/apps/{app_id}/keys", tag = "keys", security(("bearer" = [])),
    params(AppPath, ListKeys),
    responses((status = 200, body = [AppKey]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(q): Params<ListKeys>,
) -> Result<Json<Vec<AppKey>>, AdminError> {
    readable(&state, &who, &app_id).await?;
    if q.include_secrets && who.role == Role::TenantViewer {
        return Err(AdminError::Forbidden("viewers cannot see secrets".into()));
    }
    let mut keys = state.store.list_keys(&app_id).await?;
    if !q.include_secrets {
        keys.iter_mut().for_each(|k| k.secret = None);
    }
    Ok(Json(keys))
}

/// Create a key; its secret is in this response only (and in listings with `include_secrets`).
#[utoipa::path(operation_id = "create_key", post, path = "/api/v1/apps/{app_id}/keys", tag = "keys", security(("bearer" = [])),
    params(AppPath), request_body = CreateKey,
    responses((status = 201, body = AppKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Body(req): Body<CreateKey>,
) -> Result<(StatusCode, Json<AppKey>), AdminError> {
    writable(&state, &who, &app_id).await?;
    future_expiry(req.expires_at, "or leave it out")?;
    let new = NewKey::new(None, None, req.label, req.expires_at)?;
    let key = state.store.create_key(&app_id, new, &who.actor).await?;
    super::apply_now(&state).await;
    Ok((StatusCode::CREATED, Json(key)))
}

/// Revoke a key: refused from now on, on every node; its connections close with 4001.
#[utoipa::path(operation_id = "revoke_key", delete, path = "/api/v1/apps/{app_id}/keys/{key}", tag = "keys", security(("bearer" = [])),
    params(AppPath, KeyPath),
    responses((status = 200, body = AppKey), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, key)): PathParams<(String, String)>,
) -> Result<Json<AppKey>, AdminError> {
    writable(&state, &who, &app_id).await?;
    let mut revoked = state.store.revoke_key(&app_id, &key, &who.actor).await?;
    revoked.secret = None;
    super::apply_now(&state).await;
    Ok(Json(revoked))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    /// Unix seconds after which the key stops working (in the future); null: it does not expire.
    /// Required: leaving it out changes nothing and is refused.
    #[serde(deserialize_with = "present")]
    #[schema(required = true, minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    pub expires_at: Option<i64>,
}

/// A field that must be given, `null` included (an `Option` field is optional to serde otherwise).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Option::deserialize(d)
}

/// Set or remove an active key's expiry. A key past its expiry is refused like a revoked one.
#[utoipa::path(operation_id = "update_key", patch, path = "/api/v1/apps/{app_id}/keys/{key}", tag = "keys", security(("bearer" = [])),
    params(AppPath, KeyPath), request_body = UpdateKey,
    responses((status = 200, body = AppKey), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, key)): PathParams<(String, String)>,
    Body(req): Body<UpdateKey>,
) -> Result<Json<AppKey>, AdminError> {
    writable(&state, &who, &app_id).await?;
    future_expiry(req.expires_at, "or revoke the key")?;
    let mut updated = state
        .store
        .set_key_expiry(&app_id, &key, req.expires_at, &who.actor)
        .await?;
    updated.secret = None;
    super::apply_now(&state).await;
    Ok(Json(updated))
}

/// An expiry must lie ahead: a key created or changed to expire in the past would only be refused.
fn future_expiry(expires_at: Option<i64>, otherwise: &str) -> Result<(), AdminError> {
    match expires_at.is_some_and(|at| at <= crate::clock::unix_secs()) {
        true => Err(AdminError::bad(
            "expires_at",
            format!("expires_at is in the past: give a future time in Unix seconds, null for no expiry, {otherwise}"),
        )),
        false => Ok(()),
    }
}
