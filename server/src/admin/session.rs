//! Login, refresh, logout and `me`.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{random_token, token_hash, Principal, ACCESS_TTL, REFRESH_TTL};
use super::error::{AdminError, ErrorBody};
use super::json::Body;
use super::password;
use super::refresh_cookie;
use crate::clock::unix_secs;
use crate::state::AppState;
use crate::store::{Actor, Admin, RefreshUse, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// An address (`local@domain`) of at most 254 characters.
    #[schema(max_length = 254, pattern = r"^[^\s@]+@\S+$")]
    pub email: String,
    /// At most 1024 characters.
    #[schema(max_length = 1024)]
    pub password: String,
    /// Keep the refresh token in an HttpOnly cookie (`herald_refresh`, scoped to `/api/v1/auth`)
    /// instead of the answer's body: what the browser console does.
    #[serde(default)]
    pub refresh_cookie: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token; leave it out to use the `herald_refresh` cookie.
    #[serde(default)]
    pub refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// A JWT for `Authorization: Bearer`, valid for `expires_in` seconds.
    pub access_token: String,
    /// Single use: exchange it at `/auth/refresh` for a new pair. Absent when it was set as the
    /// `herald_refresh` cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
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

/// An access token and a refresh token of `family` (one sign-in and its refreshes).
async fn pair(state: &AppState, admin: &Admin, family: &str) -> Result<TokenPair, AdminError> {
    let access_token = state
        .admin
        .issue(&admin.id, &admin.email, admin.role, admin.tenant_id.as_deref())?;
    let refresh_token = random_token();
    let expires = unix_secs() + REFRESH_TTL;
    state
        .store
        .save_refresh_token(&token_hash(&refresh_token), &admin.id, family, expires)
        .await?;
    Ok(TokenPair {
        access_token,
        refresh_token: Some(refresh_token),
        token_type: "Bearer",
        expires_in: ACCESS_TTL,
    })
}

/// Answers a token pair: in the body, or with the refresh token moved into the cookie.
fn answer(mut pair: TokenPair, cookie: bool, headers: &HeaderMap) -> Response {
    if !cookie {
        return Json(pair).into_response();
    }
    let token = pair.refresh_token.take().unwrap_or_default();
    let set = refresh_cookie::set(&token, REFRESH_TTL, headers);
    ([(header::SET_COOKIE, set)], Json(pair)).into_response()
}

/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL: usize = 254;

/// Log in with email and password. Failed logins slow down: after five failures of one email from
/// one address, each further try there waits longer (1 s, doubling, at most 60 s); one address
/// trying many emails and one email tried from many addresses back off too.
#[utoipa::path(operation_id = "login", post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Body(req): Body<LoginRequest>,
) -> Result<Response, AdminError> {
    let email = req.email.trim().to_ascii_lowercase();
    check_email(&email)?;
    if req.password.chars().count() > password::MAX_LEN {
        return Err(AdminError::bad(
            "password",
            format!("password must be at most {} characters", password::MAX_LEN),
        ));
    }
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let address = state.config.client_address(peer.ip(), forwarded);
    let limiter = state.admin.limiter();
    if let Err(wait) = limiter.check(&email, address, Instant::now()) {
        let wait = wait.as_secs() + 1;
        return Err(AdminError::TooManyRequests(format!(
            "too many failed logins; retry in {wait} s"
        )));
    }
    let creds = state.store.admin_credentials(&email).await?;
    let hash = creds
        .as_ref()
        .map(|c| c.password_hash.clone())
        .unwrap_or_else(|| password::decoy().to_string());
    let pw = req.password;
    let slot = state.admin.check_slot().await?;
    // argon2 is deliberately slow: keep it off the async workers.
    let ok = tokio::task::spawn_blocking(move || password::verify(&pw, &hash))
        .await
        .unwrap_or(false);
    drop(slot);
    let Some(creds) = creds.filter(|_| ok) else {
        limiter.failed(&email, address, Instant::now());
        let tenant = state
            .store
            .admin_credentials(&email)
            .await
            .ok()
            .flatten()
            .and_then(|c| c.admin.tenant_id);
        let detail = json!({ "address": address.to_string() });
        let actor = Actor(format!("admin:{email}"));
        state
            .store
            .record(tenant.as_deref(), &actor, "login.failed", &email, detail)
            .await?;
        return Err(AdminError::Unauthorized("wrong email or password".into()));
    };
    limiter.succeeded(&email, address);
    let admin = creds.admin;
    let actor = Actor(format!("admin:{email}"));
    let detail = json!({ "address": address.to_string() });
    state
        .store
        .record(admin.tenant_id.as_deref(), &actor, "login", &email, detail)
        .await?;
    let family = uuid::Uuid::new_v4().simple().to_string();
    Ok(answer(
        pair(&state, &admin, &family).await?,
        req.refresh_cookie,
        &headers,
    ))
}

/// An email address as a login takes it: checked before anything is looked up, remembered or
/// audited, so unauthenticated input is bounded.
pub(crate) fn check_email(email: &str) -> Result<(), AdminError> {
    let shaped = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace));
    match email.len() <= MAX_EMAIL && shaped {
        true => Ok(()),
        false => Err(AdminError::bad(
            "email",
            format!("email must be an email address of at most {MAX_EMAIL} characters"),
        )),
    }
}

/// Exchange a refresh token (from the body, or else the `herald_refresh` cookie) for a new token
/// pair; the old refresh token stops working. A cookie's token is answered with a new cookie.
#[utoipa::path(operation_id = "refresh", post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<RefreshRequest>,
) -> Result<Response, AdminError> {
    let (token, cookie) = presented(req, &headers)?;
    let unknown = || AdminError::Unauthorized("refresh token unknown, used or expired; log in again".into());
    match state.store.take_refresh_token(&token_hash(&token), unix_secs()).await? {
        RefreshUse::Valid { admin_id, family } => {
            let admin = state.store.get_admin(&admin_id).await?;
            Ok(answer(pair(&state, &admin, &family).await?, cookie, &headers))
        }
        RefreshUse::Reused { admin_id } => {
            // A copy of a used token: whoever holds it, every session of that sign-in ends.
            if let Ok(admin) = state.store.get_admin(&admin_id).await {
                let actor = Actor(format!("admin:{}", admin.email));
                let tenant = admin.tenant_id.as_deref();
                let detail = json!({ "revoked": "every refresh token of the sign-in" });
                state
                    .store
                    .record(tenant, &actor, "login.refresh_reused", &admin.email, detail)
                    .await?;
            }
            Err(AdminError::Unauthorized(
                "this refresh token was used before: every session of that sign-in has ended; log in again".into(),
            ))
        }
        RefreshUse::Unknown => Err(unknown()),
    }
}

/// The refresh token a request presents, and whether it came as the cookie.
fn presented(req: RefreshRequest, headers: &HeaderMap) -> Result<(String, bool), AdminError> {
    match (req.refresh_token, refresh_cookie::read(headers)) {
        (Some(token), _) => Ok((token, false)),
        (None, Some(token)) => Ok((token, true)),
        (None, None) => Err(AdminError::Unauthorized(
            "no refresh token: send refresh_token, or the herald_refresh cookie; log in again".into(),
        )),
    }
}

/// Revoke a refresh token (from the body, or else the `herald_refresh` cookie, which is cleared).
/// Access tokens expire by themselves within 15 minutes.
#[utoipa::path(operation_id = "logout", post, path = "/api/v1/auth/logout", tag = "auth", request_body = RefreshRequest,
    responses((status = 204)))]
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<RefreshRequest>,
) -> Result<Response, AdminError> {
    let clear = [(header::SET_COOKIE, refresh_cookie::clear(&headers))];
    let Ok((token, _)) = presented(req, &headers) else {
        return Ok((StatusCode::NO_CONTENT, clear).into_response());
    };
    if let RefreshUse::Valid { family, .. } = state.store.take_refresh_token(&token_hash(&token), unix_secs()).await? {
        state.store.revoke_refresh_family(&family).await?;
    }
    Ok((StatusCode::NO_CONTENT, clear).into_response())
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    /// 12 to 1024 characters, not only spaces.
    #[schema(min_length = 12, max_length = 1024, pattern = r"\S")]
    pub new_password: String,
}

/// Change the signed-in admin's own password. Every session of the admin ends, this one included:
/// refresh tokens stop working at once, access tokens expire within 15 minutes. Sign in again with
/// the new password.
#[utoipa::path(operation_id = "change_password", post, path = "/api/v1/auth/password", tag = "auth", security(("bearer" = [])),
    request_body = ChangePassword,
    responses((status = 204), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn change_password(
    State(state): State<AppState>,
    who: Principal,
    Body(req): Body<ChangePassword>,
) -> Result<StatusCode, AdminError> {
    let admin_id = who
        .admin_id
        .clone()
        .ok_or_else(|| AdminError::Forbidden("an API token has no password; sign in as an admin".into()))?;
    let admin = state.store.get_admin(&admin_id).await?;
    let creds = state
        .store
        .admin_credentials(&admin.email)
        .await?
        .ok_or_else(|| AdminError::Unauthorized("no such admin; sign in again".into()))?;
    let (current, new) = (req.current_password, req.new_password);
    let _slot = state.admin.check_slot().await?;
    let hash = tokio::task::spawn_blocking(move || {
        if !password::verify(&current, &creds.password_hash) {
            return Err(AdminError::bad("current_password", "the current password is wrong"));
        }
        password::hash(&new).map_err(|e| AdminError::bad("new_password", e.to_string()))
    })
    .await
    .map_err(|_| AdminError::Internal)??;
    state.store.set_admin_password(&admin_id, &hash, &who.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}
