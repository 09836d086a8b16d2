//! An app's channels as the console shows them: the occupied channels over the whole cluster with
//! their subscribers (and members, for presence channels), one channel, a presence channel's
//! members, and a channel's stored history. The signed Pusher API answers the same questions for
//! backends; these answer them for admins, with the admin API's credentials and error shape.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::apps::{readable, AppPath};
use super::auth::Principal;
use super::error::{AdminError, ErrorBody};
use super::json::{Params, PathParams};
use crate::channel_key::ChannelKey;
use crate::history::view::{page_query, HistoryPage, HistoryParams};
use crate::history::Retention;
use crate::protocol::{ChannelKind, ChannelName};
use crate::state::AppState;

/// One occupied channel.
#[derive(Serialize, ToSchema)]
pub struct ChannelSummary {
    pub name: String,
    /// Connections subscribed to it, over every node.
    pub subscribers: usize,
    /// Distinct presence members (presence channels only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_count: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelList {
    /// Sorted by name.
    pub channels: Vec<ChannelSummary>,
}

/// One channel: occupied or not.
#[derive(Serialize, ToSchema)]
pub struct ChannelDetail {
    pub name: String,
    pub occupied: bool,
    pub subscribers: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_count: Option<usize>,
}

/// A presence member.
#[derive(Serialize, ToSchema)]
pub struct ChannelMember {
    pub user_id: String,
    /// What the app's auth endpoint gave as `user_info`.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    #[schema(value_type = Object)]
    pub user_info: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct MemberList {
    /// In join order.
    pub members: Vec<ChannelMember>,
}

/// A channel named in the path: Pusher's channel names (1 to 164 characters of
/// `[A-Za-z0-9_-=@,.;]`) and `#server-to-user-{user id}`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path segment the handlers read
pub(crate) struct ChannelPath {
    #[param(pattern = "^(#server-to-user-[A-Za-z0-9_=@,.;-]{1,128}|[A-Za-z0-9_=@,.;-]{1,164})$")]
    name: String,
}

/// A presence channel named in the path: `presence-…` or `cache-presence-…`.
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)] // documents the path segment the handler reads
pub(crate) struct PresencePath {
    #[param(max_length = 164, pattern = "^(cache-)?presence-[A-Za-z0-9_=@,.;-]*$")]
    name: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChannelFilter {
    /// Only channels whose name starts with this.
    prefix: Option<String>,
}

/// The occupied channels of an app over every node, with subscribers and presence members.
#[utoipa::path(operation_id = "list_channels", get, path = "/api/v1/apps/{app_id}/channels", tag = "channels",
    security(("bearer" = [])), params(AppPath, ChannelFilter),
    responses((status = 200, body = ChannelList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    who: Principal,
    PathParams(app_id): PathParams<String>,
    Params(filter): Params<ChannelFilter>,
) -> Result<Json<ChannelList>, AdminError> {
    let app = readable(&state, &who, &app_id).await?;
    let app_id: Arc<str> = Arc::from(app.id.as_str());
    let mut counts: HashMap<ChannelName, usize> = state.nodes.channel_counts(&app_id, None).await;
    // Presence members anywhere occupy a channel even where this node has no subscriber.
    for (name, _) in state.hub.channels.presence_channels_of(&app_id) {
        counts.entry(name).or_default();
    }
    let prefix = filter.prefix.unwrap_or_default();
    let mut channels: Vec<ChannelSummary> = counts
        .into_iter()
        .filter(|(name, _)| name.kind() != ChannelKind::ServerToUser && name.as_str().starts_with(&prefix))
        .map(|(name, subscribers)| ChannelSummary {
            user_count: user_count(&state, &app_id, &name),
            name: name.to_string(),
            subscribers,
        })
        .collect();
    channels.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(ChannelList { channels }))
}

/// One channel of an app, over every node.
#[utoipa::path(operation_id = "get_channel", get, path = "/api/v1/apps/{app_id}/channels/{name}", tag = "channels",
    security(("bearer" = [])), params(AppPath, ChannelPath),
    responses((status = 200, body = ChannelDetail), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, name)): PathParams<(String, String)>,
) -> Result<Json<ChannelDetail>, AdminError> {
    let app = readable(&state, &who, &app_id).await?;
    let channel = parse(&name)?;
    let app_id: Arc<str> = Arc::from(app.id.as_str());
    let counts = state.nodes.channel_counts(&app_id, Some(&channel)).await;
    let subscribers = counts.get(&channel).copied().unwrap_or(0);
    let user_count = user_count(&state, &app_id, &channel);
    Ok(Json(ChannelDetail {
        occupied: subscribers > 0 || user_count.is_some_and(|n| n > 0),
        name,
        subscribers,
        user_count,
    }))
}

/// The members of a presence channel, over every node.
#[utoipa::path(operation_id = "list_channel_members", get, path = "/api/v1/apps/{app_id}/channels/{name}/members",
    tag = "channels", security(("bearer" = [])), params(AppPath, PresencePath),
    responses((status = 200, body = MemberList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn members(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, name)): PathParams<(String, String)>,
) -> Result<Json<MemberList>, AdminError> {
    let app = readable(&state, &who, &app_id).await?;
    let channel = parse(&name)?;
    if !channel.is_presence() {
        return Err(AdminError::bad("name", "only presence channels have members"));
    }
    let app_id: Arc<str> = Arc::from(app.id.as_str());
    let members = state
        .hub
        .channels
        .members(&app_id, &channel)
        .into_iter()
        .map(|m| ChannelMember {
            user_id: m.user_id.to_string(),
            user_info: m.user_info,
        })
        .collect();
    Ok(Json(MemberList { members }))
}

/// A page of a channel's stored messages, with their serials.
#[utoipa::path(operation_id = "channel_history", get, path = "/api/v1/apps/{app_id}/channels/{name}/history",
    tag = "channels", security(("bearer" = [])), params(AppPath, ChannelPath, HistoryParams),
    responses((status = 200, body = HistoryPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    who: Principal,
    PathParams((app_id, name)): PathParams<(String, String)>,
    Params(params): Params<HashMap<String, String>>,
) -> Result<Json<HistoryPage>, AdminError> {
    let app = readable(&state, &who, &app_id).await?;
    let channel = parse(&name)?;
    let query = page_query(|p| params.get(p).map(String::as_str))
        .map_err(|message| AdminError::BadRequest { message, field: None })?;
    let key = ChannelKey::new(Arc::from(app.id.as_str()), channel);
    let page = state
        .publisher
        .bus()
        .history(&key, query, Retention::of(&app))
        .await
        .map_err(|e| AdminError::Unavailable(format!("history not read, retry: {e}")))?;
    Ok(Json(HistoryPage::new(name, page)))
}

fn parse(name: &str) -> Result<ChannelName, AdminError> {
    ChannelName::parse(name).map_err(|e| AdminError::bad("name", format!("invalid channel {name:?}: {e}")))
}

/// Presence members of a presence channel; `None` for other kinds.
fn user_count(state: &AppState, app_id: &Arc<str>, channel: &ChannelName) -> Option<usize> {
    channel
        .is_presence()
        .then(|| state.hub.channels.member_count(app_id, channel))
}
