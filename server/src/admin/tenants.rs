//! Tenants: owners manage them all; a tenant's admins see and rename their own.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Body, PathParams};
use crate::state::AppState;
use crate::store::{Role, Tenant, TenantLimits, TenantPatch, TenantStatus};

/// A tenant named in the path: tenant ids are UUIDs.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path segment the handlers read
pub(crate) struct TenantPath {
    #[param(pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")]
    tenant_id: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: String,
    /// 1 to 63 characters of `[a-z0-9-]`, not starting or ending with `-`; unique.
    #[schema(min_length = 1, max_length = 63, pattern = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")]
    pub slug: String,
    /// 0 (the default) means unlimited.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9223372036854775807i64)]
    pub max_apps: i64,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9223372036854775807i64)]
    pub max_connections: i64,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9223372036854775807i64)]
    pub max_messages_per_day: i64,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// 1 to 100 characters once trimmed.
    #[schema(min_length = 1, max_length = 100, pattern = r"\S")]
    pub name: Option<String>,
    /// Owners only.
    pub status: Option<TenantStatus>,
    /// Owners only; 0 means unlimited.
    #[schema(minimum = 0, maximum = 9223372036854775807i64)]
    pub max_apps: Option<i64>,
    #[schema(minimum = 0, maximum = 9223372036854775807i64)]
    pub max_connections: Option<i64>,
    #[schema(minimum = 0, maximum = 9223372036854775807i64)]
    pub max_messages_per_day: Option<i64>,
}

/// Tenants the caller can see.
#[utoipa::path(operation_id = "list_tenants", get, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])),
    responses((status = 200, body = [Tenant]), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, who: Principal) -> Result<Json<Vec<Tenant>>, AdminError> {
    let all = state.store.list_tenants().await?;
    Ok(Json(all.into_iter().filter(|t| who.read(&t.id).is_ok()).collect()))
}

/// Create a tenant (owners only).
#[utoipa::path(operation_id = "create_tenant", post, path = "/api/v1/tenants", tag = "tenants", security(("bearer" = [])), request_body = CreateTenant,
    responses((status = 201, body = Tenant), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    who: Principal,
    Body(req): Body<CreateTenant>,
) -> Result<(StatusCode, Json<Tenant>), AdminError> {
    who.owner()?;
    let limits = TenantLimits {
        max_apps: req.max_apps,
        max_connections: req.max_connections,
        max_messages_per_day: req.max_messages_per_day,
    };
    let tenant = state
        .store
        .create_tenant(&req.name, &req.slug, limits, &who.actor)
        .await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

#[utoipa::path(operation_id = "get_tenant", get, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])),
    params(TenantPath), responses((status = 200, body = Tenant), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
) -> Result<Json<Tenant>, AdminError> {
    who.read(&tenant_id)?;
    Ok(Json(state.store.get_tenant(&tenant_id).await?))
}

/// Rename (tenant admins), or change status and limits (owners). Suspending closes the tenant's connections.
#[utoipa::path(operation_id = "update_tenant", patch, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])),
    params(TenantPath), request_body = UpdateTenant,
    responses((status = 200, body = Tenant), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
    Body(req): Body<UpdateTenant>,
) -> Result<Json<Tenant>, AdminError> {
    who.write(&tenant_id)?;
    let changes_plan = req.status.is_some()
        || req.max_apps.is_some()
        || req.max_connections.is_some()
        || req.max_messages_per_day.is_some();
    if changes_plan && who.role != Role::Owner {
        return Err(AdminError::Forbidden(
            "only platform owners change a tenant's status and limits".into(),
        ));
    }
    let patch = TenantPatch {
        name: req.name,
        status: req.status,
        max_apps: req.max_apps,
        max_connections: req.max_connections,
        max_messages_per_day: req.max_messages_per_day,
    };
    let tenant = state.store.update_tenant(&tenant_id, patch, &who.actor).await?;
    super::apply_now(&state).await;
    Ok(Json(tenant))
}

/// Delete a tenant with its apps, keys, admins and tokens (owners only).
#[utoipa::path(operation_id = "delete_tenant", delete, path = "/api/v1/tenants/{tenant_id}", tag = "tenants", security(("bearer" = [])),
    params(TenantPath), responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
) -> Result<StatusCode, AdminError> {
    who.read(&tenant_id)?;
    who.owner()?;
    state.store.delete_tenant(&tenant_id, &who.actor).await?;
    super::apply_now(&state).await;
    Ok(StatusCode::NO_CONTENT)
}
