//! `POST /apps/{id}/users/{user_id}/terminate_connections`: close every connection signed in as the user.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::signed::Signed;
use crate::state::AppState;

pub async fn terminate(
    State(state): State<AppState>,
    Path((_, user_id)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let app_id: Arc<str> = Arc::from(signed.app.id.as_str());
    let closed = state.hub.users.terminate(&app_id, &user_id);
    tracing::info!(app_id = %app_id, closed, "terminated a user's connections");
    Ok(Json(json!({})))
}
