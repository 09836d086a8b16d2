//! `GET /apps/{app_id}/channels/{name}/history`: a channel's stored messages, a page at a time
//! (Herald extension, signed like the rest of the Pusher HTTP API).

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

use super::error::ApiError;
use super::signed::Signed;
use crate::history::{PageQuery, Retention};
use crate::protocol::ChannelName;
use crate::state::AppState;

/// Most messages one page holds.
pub const MAX_LIMIT: usize = 1000;

/// Query parameters (besides the Pusher signature: `auth_key`, `auth_timestamp`, `auth_version`,
/// `auth_signature`).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct HistoryParams {
    /// `backwards` (newest first, the default) or `forwards` (oldest first).
    direction: Option<String>,
    /// Messages per page, 1 to 1000 (default 100).
    limit: Option<usize>,
    /// The `next_cursor` of the previous page; forwards, also any serial to read after.
    cursor: Option<u64>,
    /// Only messages published at or after this time (Unix milliseconds).
    start: Option<i64>,
    /// Only messages published at or before this time (Unix milliseconds).
    end: Option<i64>,
}

/// One stored message.
#[derive(Serialize, ToSchema)]
pub struct HistoryMessage {
    /// Its serial (increasing within the channel, not necessarily by one).
    serial: u64,
    /// The serial of the channel's message before it (0 if none).
    prev: u64,
    event: String,
    data: String,
    /// When it was accepted (Unix milliseconds).
    published_at: i64,
}

/// A page of history.
#[derive(Serialize, ToSchema)]
pub struct HistoryPage {
    channel: String,
    /// The epoch of the channel's history (as events and `subscription_succeeded` carry it).
    epoch: String,
    messages: Vec<HistoryMessage>,
    /// Pass as `cursor` (with the same direction) for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<u64>,
}

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
    let query = page_query(&signed)?;
    let key = crate::channel_key::ChannelKey::new(std::sync::Arc::from(signed.app.id.as_str()), channel);
    let page = state
        .publisher
        .bus()
        .history(&key, query, Retention::of(&signed.app))
        .await
        .map_err(|e| ApiError::Unavailable(format!("History not read, retry: {e}")))?;
    let messages = page
        .messages
        .iter()
        .map(|m| HistoryMessage {
            serial: m.serial,
            prev: m.prev,
            event: m.event.clone(),
            data: m.data.as_text().to_string(),
            published_at: m.published_ms,
        })
        .collect();
    Ok(Json(HistoryPage {
        channel: name,
        epoch: page.epoch.to_string(),
        messages,
        next_cursor: page.next_cursor,
    }))
}

fn page_query(signed: &Signed) -> Result<PageQuery, ApiError> {
    fn number<T: std::str::FromStr>(signed: &Signed, name: &str) -> Result<Option<T>, ApiError> {
        signed
            .param(name)
            .map(|v| {
                v.parse::<T>()
                    .map_err(|_| ApiError::bad(format!("Invalid {name} {v:?}: expected a number")))
            })
            .transpose()
    }
    let backwards = match signed.param("direction") {
        None | Some("backwards") => true,
        Some("forwards") => false,
        Some(other) => {
            return Err(ApiError::bad(format!(
                "Invalid direction {other:?}: use \"backwards\" or \"forwards\""
            )))
        }
    };
    let limit = number::<usize>(signed, "limit")?.unwrap_or(100);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::bad(format!("Invalid limit {limit}: use 1 to {MAX_LIMIT}")));
    }
    Ok(PageQuery {
        backwards,
        cursor: number(signed, "cursor")?,
        start_ms: number(signed, "start")?,
        end_ms: number(signed, "end")?,
        limit,
    })
}
