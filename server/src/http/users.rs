//! `POST /apps/{id}/users/{user_id}/terminate_connections`: close every connection signed in as the user.
//! Also routed without the `/apps/{id}` prefix, as the PyPI SDK sends it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::signed::Signed;
use crate::state::AppState;

pub async fn terminate(
    State(state): State<AppState>,
    Path(params): Path<HashMap<String, String>>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let user_id = params.get("user_id").map(String::as_str).unwrap_or_default();
    let app_id: Arc<str> = Arc::from(signed.app.id.as_str());
    state
        .nodes
        .terminate_user(&app_id, user_id)
        .await
        .map_err(|e| ApiError::Unavailable(format!("Could not reach every node, retry: {e}")))?;
    tracing::info!(app_id = %app_id, "terminating a user's connections");
    Ok(Json(json!({})))
}
