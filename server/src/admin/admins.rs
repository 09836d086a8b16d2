//! Admins and API tokens. Owners manage everyone; tenant admins manage their tenant's admins and
//! tokens; viewers read.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::auth::{random_token, token_hash, Principal, API_TOKEN_PREFIX};
use super::error::{AdminError, ErrorBody};
use super::json::{Body, PathParams};
use super::password;
use super::tenants::TenantPath;
use crate::state::AppState;
use crate::store::{Admin, ApiToken, Role};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAdmin {
    /// An address (`local@domain.tld`) of at most 254 characters, unique; kept lower-case.
    #[schema(max_length = 254, pattern = r"^[^\s@]+@[^\s.][^\s]*\.[^\s]*$")]
    pub email: String,
    /// 12 to 1024 characters, not only spaces; generated and returned once when left out.
    #[schema(min_length = 12, max_length = 1024, pattern = r"\S")]
    pub password: Option<String>,
    pub role: Role,
    /// Required for tenant roles when an owner creates the admin at `/admins`; none for owners.
    #[schema(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub tenant_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedAdmin {
    pub admin: Admin,
    /// Present only when the password was generated.
    pub password: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// tenant_admin or tenant_viewer.
    #[schema(schema_with = tenant_role)]
    pub role: Role,
}

/// The roles an API token may have: a tenant's.
fn tenant_role() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some([Role::TenantAdmin.as_str(), Role::TenantViewer.as_str()]))
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    /// Send as `Authorization: Bearer <token>`. Shown once.
    pub token: String,
    pub api_token: ApiToken,
}

/// Every admin (owners) or the caller's tenant's admins.
#[utoipa::path(operation_id = "list_admins", get, path = "/api/v1/admins", tag = "admins", security(("bearer" = [])),
    responses((status = 200, body = [Admin]), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<Admin>>, AdminError> {
    let scope = if who.role == Role::Owner {
        None
    } else {
        who.tenant_id.as_deref()
    };
    Ok(Json(state.store.list_admins(scope).await?))
}

/// Create an admin. Tenant admins create admins and viewers of their own tenant.
#[utoipa::path(operation_id = "create_admin", post, path = "/api/v1/admins", tag = "admins", security(("bearer" = [])), request_body = CreateAdmin,
    responses((status = 201, body = CreatedAdmin), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, description = "`tenant_id` names no tenant the caller can see", body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Body(req): Body<CreateAdmin>,
) -> Result<(StatusCode, Json<CreatedAdmin>), AdminError> {
    let tenant_id = match req.role {
        Role::Owner => {
            who.owner()?;
            no_tenant(&req.tenant_id)?;
            None
        }
        _ => {
            let tenant = req
                .tenant_id
                .clone()
                .or_else(|| who.tenant_id.clone())
                .ok_or_else(|| AdminError::bad("tenant_id", "tenant roles need a tenant_id"))?;
            who.write(&tenant)?;
            Some(tenant)
        }
    };
    let (pw, generated) = match req.password {
        Some(pw) => (pw, false),
        None => (password::generate(), true),
    };
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw).map(|h| (h, pw)))
        .await
        .map_err(|_| AdminError::Internal)?
        .map_err(|e| AdminError::bad("password", e.to_string()))?;
    let admin = state
        .store
        .create_admin(&req.email, &hash.0, req.role, tenant_id.as_deref(), &who.actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedAdmin {
            admin,
            password: generated.then_some(hash.1),
        }),
    ))
}

#[utoipa::path(operation_id = "delete_admin", delete, path = "/api/v1/admins/{admin_id}", tag = "admins", security(("bearer" = [])),
    params(("admin_id" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    PathParams(admin_id): PathParams<String>,
) -> Result<StatusCode, AdminError> {
    let admin = state.store.get_admin(&admin_id).await?;
    match &admin.tenant_id {
        Some(tenant) => who.write(tenant)?,
        None => who.owner()?,
    }
    state.store.delete_admin(&admin_id, &who.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(operation_id = "list_api_tokens", get, path = "/api/v1/tenants/{tenant_id}/tokens", tag = "tokens", security(("bearer" = [])),
    params(TenantPath), responses((status = 200, body = [ApiToken]), (status = 404, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
) -> Result<Json<Vec<ApiToken>>, AdminError> {
    who.read(&tenant_id)?;
    state.store.get_tenant(&tenant_id).await?;
    Ok(Json(state.store.list_api_tokens(&tenant_id).await?))
}

/// Create an API token for automation; the token is in this response only.
#[utoipa::path(operation_id = "create_api_token", post, path = "/api/v1/tenants/{tenant_id}/tokens", tag = "tokens", security(("bearer" = [])),
    params(TenantPath), request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
    Body(req): Body<CreateToken>,
) -> Result<(StatusCode, Json<CreatedToken>), AdminError> {
    who.write(&tenant_id)?;
    state.store.get_tenant(&tenant_id).await?;
    let body = random_token();
    let api_token = state
        .store
        .create_api_token(&tenant_id, &req.name, req.role, &token_hash(&body), &who.actor)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: format!("{API_TOKEN_PREFIX}{body}"),
            api_token,
        }),
    ))
}

#[utoipa::path(operation_id = "revoke_api_token", delete, path = "/api/v1/tenants/{tenant_id}/tokens/{token_id}", tag = "tokens", security(("bearer" = [])),
    params(TenantPath, ("token_id" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    who: Principal,
    PathParams((tenant_id, token_id)): PathParams<(String, String)>,
) -> Result<StatusCode, AdminError> {
    who.write(&tenant_id)?;
    state.store.revoke_api_token(&tenant_id, &token_id, &who.actor).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Owners belong to no tenant: a `tenant_id` given with the owner role is a mistake, not ignored.
fn no_tenant(tenant_id: &Option<String>) -> Result<(), AdminError> {
    match tenant_id {
        Some(_) => Err(AdminError::bad(
            "tenant_id",
            "owners have no tenant: leave tenant_id out",
        )),
        None => Ok(()),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateAdmin {
    pub role: Role,
    /// The tenant of a tenant role; leave out for owners (and to keep a tenant admin's tenant).
    #[schema(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    pub tenant_id: Option<String>,
}

/// Change an admin's role. Owners change anyone; tenant admins change their tenant's admins between
/// tenant roles. The last owner keeps its role.
#[utoipa::path(operation_id = "update_admin", patch, path = "/api/v1/admins/{admin_id}", tag = "admins", security(("bearer" = [])),
    params(("admin_id" = String, Path, pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")), request_body = UpdateAdmin,
    responses((status = 200, body = Admin), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    PathParams(admin_id): PathParams<String>,
    Body(req): Body<UpdateAdmin>,
) -> Result<Json<Admin>, AdminError> {
    let admin = state.store.get_admin(&admin_id).await?;
    match &admin.tenant_id {
        Some(tenant) => who.write(tenant)?,
        None => who.owner()?,
    }
    let tenant_id = match req.role {
        Role::Owner => {
            who.owner()?;
            no_tenant(&req.tenant_id)?;
            None
        }
        _ => {
            let tenant = req
                .tenant_id
                .or(admin.tenant_id)
                .ok_or_else(|| AdminError::bad("tenant_id", "tenant roles need a tenant_id"))?;
            who.write(&tenant)?;
            Some(tenant)
        }
    };
    let updated = state
        .store
        .update_admin(&admin_id, req.role, tenant_id.as_deref(), &who.actor)
        .await?;
    Ok(Json(updated))
}
