//! A tenant's audit log: who changed what and when, logins and failed logins.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Params, PathParams};
use super::tenants::TenantPath;
use crate::state::AppState;
use crate::store::AuditEntry;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Entries older than this entry id (for paging).
    #[param(minimum = -9223372036854775808i64, maximum = 9223372036854775807i64)]
    pub before: Option<i64>,
}

/// Most entries one answer holds.
const MAX_LIMIT: i64 = 500;

/// Newest first.
#[utoipa::path(operation_id = "list_audit_log", get, path = "/api/v1/tenants/{tenant_id}/audit", tag = "audit", security(("bearer" = [])),
    params(TenantPath, AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    PathParams(tenant_id): PathParams<String>,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AdminError> {
    who.read(&tenant_id)?;
    state.store.get_tenant(&tenant_id).await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(AdminError::bad("limit", format!("limit must be 1 to {MAX_LIMIT}")));
    }
    Ok(Json(state.store.audit_log(&tenant_id, limit, q.before).await?))
}
