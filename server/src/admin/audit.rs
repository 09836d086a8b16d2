//! A tenant's audit log: who changed what and when, logins and failed logins.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::Params;
use crate::state::AppState;
use crate::store::AuditEntry;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// At most this many entries (1 to 500, default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Entries older than this entry id (for paging).
    pub before: Option<i64>,
}

/// Newest first.
#[utoipa::path(operation_id = "list_audit_log", get, path = "/api/v1/tenants/{tenant_id}/audit", tag = "audit", security(("bearer" = [])),
    params(("tenant_id" = String, Path), AuditQuery),
    responses((status = 200, body = [AuditEntry]), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    Path(tenant_id): Path<String>,
    Params(q): Params<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AdminError> {
    who.read(&tenant_id)?;
    Ok(Json(
        state
            .store
            .audit_log(&tenant_id, q.limit.unwrap_or(100), q.before)
            .await?,
    ))
}
