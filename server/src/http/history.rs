//! `GET /apps/{app_id}/channels/{name}/history`: a channel's stored messages, a page at a time
//! (Herald extension, signed like the rest of the Pusher HTTP API).

use super::error::ApiError;
use super::signed::Signed;
use crate::history::view::{page_query, HistoryPage, HistoryParams};
use crate::history::Retention;
use crate::protocol::ChannelName;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;

/// Read a channel's stored messages.
#[utoipa::path(
    get,
    path = "/apps/{app_id}/channels/{name}/history",
    tag = "history",
    params(
        ("app_id" = String, Path, description = "The app's id"),
        ("name" = String, Path, description = "The channel's name"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "A page of messages", body = HistoryPage),
        (status = 400, description = "A parameter is malformed (plain-text message)"),
        (status = 401, description = "The request signature is wrong (plain-text message)"),
        (status = 503, description = "The message store cannot be reached; retry"),
    )
)]
pub async fn history(
    State(state): State<AppState>,
    Path(path): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<HistoryPage>, ApiError> {
    let name = path.1;
    let channel = ChannelName::parse(&name).map_err(|e| ApiError::bad(format!("Invalid channel {name:?}: {e}")))?;
    let query = page_query(|name| signed.param(name)).map_err(ApiError::BadRequest)?;
    let key = crate::channel_key::ChannelKey::new(std::sync::Arc::from(signed.app.id.as_str()), channel);
    let page = state
        .publisher
        .bus()
        .history(&key, query, Retention::of(&signed.app))
        .await
        .map_err(|e| ApiError::Unavailable(format!("History not read, retry: {e}")))?;
    Ok(Json(HistoryPage::new(name, page)))
}
