//! Login, refresh, logout and `me`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{random_token, token_hash, Principal, ACCESS_TTL, REFRESH_TTL};
use super::error::{AdminError, ErrorBody};
use super::json::Body;
use super::password;
use crate::state::AppState;
use crate::store::{now, Actor, Admin, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer`, valid for `expires_in` seconds.
    pub access_token: String,
    /// Single use: exchange it at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    pub role: Role,
    pub tenant_id: Option<String>,
    /// The admin, when the caller is one (not an API token).
    pub admin: Option<Admin>,
}

async fn pair(state: &AppState, admin: &Admin) -> Result<TokenPair, AdminError> {
    let access_token = state
        .admin
        .issue(&admin.id, &admin.email, admin.role, admin.tenant_id.as_deref())?;
    let refresh_token = random_token();
    state
        .store
        .save_refresh_token(&token_hash(&refresh_token), &admin.id, now() + REFRESH_TTL)
        .await?;
    Ok(TokenPair {
        access_token,
        refresh_token,
        token_type: "Bearer",
        expires_in: ACCESS_TTL,
    })
}

/// Log in with email and password. Five failures in five minutes lock the email out for the rest of the window.
#[utoipa::path(operation_id = "login", post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    Body(req): Body<LoginRequest>,
) -> Result<Json<TokenPair>, AdminError> {
    let email = req.email.trim().to_ascii_lowercase();
    state.admin.limiter().check(&email)?;
    let creds = state.store.admin_credentials(&email).await?;
    let hash = creds
        .as_ref()
        .map(|c| c.password_hash.clone())
        .unwrap_or_else(|| password::decoy().to_string());
    let pw = req.password;
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .unwrap_or(false);
    let Some(creds) = creds.filter(|_| ok) else {
        state.admin.limiter().failed(&email);
        let tenant = state
            .store
            .admin_credentials(&email)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.admin.tenant_id);
        state
            .store
            .record(
                tenant.as_deref(),
                &Actor(format!("admin:{email}")),
                "login.failed",
                &email,
                json!({}),
            )
            .await?;
        return Err(AdminError::Unauthorized("wrong email or password".into()));
    };
    state.admin.limiter().succeeded(&email);
    let admin = creds.admin;
    state
        .store
        .record(
            admin.tenant_id.as_deref(),
            &Actor(format!("admin:{email}")),
            "login",
            &email,
            json!({}),
        )
        .await?;
    Ok(Json(pair(&state, &admin).await?))
}

/// Exchange a refresh token for a new token pair (the old refresh token stops working).
#[utoipa::path(operation_id = "refresh", post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    Body(req): Body<RefreshRequest>,
) -> Result<Json<TokenPair>, AdminError> {
    let admin_id = state
        .store
        .take_refresh_token(&token_hash(&req.refresh_token), now())
        .await?
        .ok_or_else(|| AdminError::Unauthorized("refresh token unknown, used or expired; log in again".into()))?;
    let admin = state.store.get_admin(&admin_id).await?;
    Ok(Json(pair(&state, &admin).await?))
}

/// Revoke a refresh token. Access tokens expire by themselves within 15 minutes.
#[utoipa::path(operation_id = "logout", post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204)))]
pub async fn logout(State(state): State<AppState>, Body(req): Body<RefreshRequest>) -> Result<StatusCode, AdminError> {
    state
        .store
        .take_refresh_token(&token_hash(&req.refresh_token), now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Who the caller is.
#[utoipa::path(operation_id = "me", get, path = "/api/v1/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, who: Principal) -> Result<Json<Me>, AdminError> {
    let admin = match &who.admin_id {
        Some(id) => Some(state.store.get_admin(id).await?),
        None => None,
    };
    Ok(Json(Me {
        role: who.role,
        tenant_id: who.tenant_id,
        admin,
    }))
}
