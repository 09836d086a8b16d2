//! The connection registry: an app's live connections over the whole cluster, one of them, and
//! closing one with a Pusher close code.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use super::apps::{readable, writable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Params, PathParams};
use crate::connections::{page, ConnectionFilter, ConnectionPage, ConnectionView};
use crate::protocol::CloseCode;
use crate::state::AppState;

/// Most connections one page holds.
const MAX_LIMIT: usize = 1000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only connections signed in as this user.
    user_id: Option<String>,
    /// Only connections subscribed to this channel.
    channel: Option<String>,
    /// Only connections held by this node.
    node: Option<String>,
    /// Only connections at least this many seconds old.
    #[param(maximum = 18446744073709551615u64)]
    min_age: Option<u64>,
    /// Only connections at most this many seconds old.
    #[param(maximum = 18446744073709551615u64)]
    max_age: Option<u64>,
    /// Connections per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
}

/// List an app's live connections (oldest first), over every node.
#[utoipa::path(operation_id = "list_connections", get, path = "/api/v1/apps/{app_id}/connections", tag = "connections",
    security(("bearer" = [])), params(AppPath, ListParams),
    responses((status = 200, body = ConnectionPage), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(params): Params<ListParams>,
) -> Result<Json<ConnectionPage>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(AdminError::BadRequest {
            message: format!("limit must be 1 to {MAX_LIMIT}"),
            field: Some("limit".into()),
        });
    }
    let filter = ConnectionFilter {
        user_id: params.user_id,
        channel: params.channel,
        node: params.node,
        min_age: params.min_age,
        max_age: params.max_age,
    };
    let views = state.nodes.connections(&Arc::from(app_id.as_str()), &filter).await;
    Ok(Json(page(views, params.cursor.as_deref(), limit)))
}

/// One live connection of an app.
#[utoipa::path(operation_id = "get_connection", get, path = "/api/v1/apps/{app_id}/connections/{socket_id}", tag = "connections",
    security(("bearer" = [])), params(AppPath, SocketPath),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, socket_id)): PathParams<(String, String)>,
) -> Result<Json<ConnectionView>, AdminError> {
    readable(&state, &who, &app_id).await?;
    let views = state
        .nodes
        .connections(&Arc::from(app_id.as_str()), &ConnectionFilter::default())
        .await;
    views
        .into_iter()
        .find(|v| v.socket_id == socket_id)
        .map(Json)
        .ok_or_else(|| AdminError::NotFound(format!("no live connection {socket_id} in this app")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisconnectParams {
    /// The Pusher close code the client sees: 4009 (default; pusher-js does not reconnect), 4100
    /// (reconnect after a back-off) or 4200 (reconnect at once).
    #[param(schema_with = offered_codes)]
    code: Option<u16>,
    /// The message of the close (at most 100 characters).
    #[param(max_length = 100)]
    reason: Option<String>,
}

/// The close codes an administrator may close a connection with.
fn offered_codes() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Integer)
        .enum_values(Some([4009, 4100, 4200]))
        .build()
}

/// A connection named in the path: a socket id is `digits.digits`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path segment the handlers read
pub(crate) struct SocketPath {
    #[param(pattern = "^[0-9]+\\.[0-9]+$")]
    socket_id: String,
}

/// Close one live connection.
#[utoipa::path(operation_id = "disconnect_connection", delete, path = "/api/v1/apps/{app_id}/connections/{socket_id}", tag = "connections",
    security(("bearer" = [])), params(AppPath, SocketPath, DisconnectParams),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn disconnect(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, socket_id)): PathParams<(String, String)>,
    Params(params): Params<DisconnectParams>,
) -> Result<StatusCode, AdminError> {
    writable(&state, &who, &app_id).await?;
    let code = match params.code.unwrap_or(4009) {
        4009 => CloseCode::Unauthorized,
        4100 => CloseCode::OverCapacity,
        4200 => CloseCode::Reconnect,
        other => {
            return Err(AdminError::BadRequest {
                message: format!("code {other} is not offered: use 4009, 4100 or 4200"),
                field: Some("code".into()),
            })
        }
    };
    let reason = params
        .reason
        .unwrap_or_else(|| "Disconnected by an administrator".into());
    if reason.chars().count() > 100 {
        return Err(AdminError::BadRequest {
            message: "reason must be at most 100 characters".into(),
            field: Some("reason".into()),
        });
    }
    match state
        .nodes
        .disconnect(&Arc::from(app_id.as_str()), &socket_id, code, &reason)
        .await
    {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(AdminError::NotFound(format!(
            "no live connection {socket_id} in this app"
        ))),
    }
}
