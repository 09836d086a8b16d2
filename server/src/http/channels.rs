//! Channel queries: `GET channels`, `GET channels/{name}`, `GET channels/{name}/users`.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Map, Value};

use super::error::ApiError;
use super::signed::Signed;
use crate::channel_key::ChannelKey;
use crate::protocol::{ChannelKind, ChannelName};
use crate::state::AppState;
use crate::store::App;

/// `GET /apps/{id}/channels?filter_by_prefix=…&info=user_count`: the occupied channels.
pub async fn list(State(state): State<AppState>, signed: Signed) -> Result<Json<Value>, ApiError> {
    let prefix = signed.param("filter_by_prefix").unwrap_or("");
    let info = attributes(signed.param("info"));
    for attr in &info {
        match attr.as_str() {
            "user_count" if prefix.starts_with("presence-") => {}
            "user_count" => return Err(ApiError::bad("info=user_count needs filter_by_prefix=presence-")),
            other => {
                return Err(ApiError::bad(format!(
                    "Unknown info attribute {other:?} for a channel list"
                )))
            }
        }
    }
    let app_id: Arc<str> = Arc::from(signed.app.id.as_str());
    // Occupied anywhere in the cluster: subscribers on some node, or presence members anywhere.
    let mut occupied: Vec<ChannelName> = state.nodes.channel_counts(&app_id, None).await.into_keys().collect();
    occupied.extend(
        state
            .hub
            .channels
            .presence_channels_of(&app_id)
            .into_iter()
            .map(|(name, _)| name),
    );
    occupied.sort();
    occupied.dedup();
    let mut channels = Map::new();
    for name in occupied {
        if name.kind() == ChannelKind::ServerToUser || !name.as_str().starts_with(prefix) {
            continue;
        }
        let attrs = match info.is_empty() {
            true => json!({}),
            false => json!({ "user_count": state.hub.channels.member_count(&app_id, &name) }),
        };
        channels.insert(name.to_string(), attrs);
    }
    Ok(Json(json!({ "channels": channels })))
}

/// `GET /apps/{id}/channels/{name}?info=user_count,subscription_count,cache`.
pub async fn show(
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let channel = ChannelName::parse(&name)?;
    let info = attributes(signed.param("info"));
    let mut body = info_attributes(&state, &signed.app, &channel, &info).await?;
    let app_id: Arc<str> = Arc::from(signed.app.id.as_str());
    let subscribers = state
        .nodes
        .channel_counts(&app_id, Some(&channel))
        .await
        .get(&channel)
        .copied()
        .unwrap_or(0);
    body["occupied"] = json!(subscribers > 0 || state.hub.channels.member_count(&app_id, &channel) > 0);
    Ok(Json(body))
}

/// `GET /apps/{id}/channels/{name}/users`: the members of a presence channel.
pub async fn users(
    State(state): State<AppState>,
    Path((_, name)): Path<(String, String)>,
    signed: Signed,
) -> Result<Json<Value>, ApiError> {
    let channel = ChannelName::parse(&name)?;
    if !channel.is_presence() {
        return Err(ApiError::bad("Users can only be listed for presence channels"));
    }
    let app_id: Arc<str> = Arc::from(signed.app.id.as_str());
    let users: Vec<Value> = state
        .hub
        .channels
        .member_ids(&app_id, &channel)
        .into_iter()
        .map(|id| json!({ "id": id }))
        .collect();
    Ok(Json(json!({ "users": users })))
}

fn attributes(raw: Option<&str>) -> Vec<String> {
    raw.map(|s| {
        s.split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

/// The requested `info` attributes of one channel; an attribute that does not apply is a 400.
pub async fn info_attributes(
    state: &AppState,
    app: &App,
    channel: &ChannelName,
    info: &[String],
) -> Result<Value, ApiError> {
    let app_id: Arc<str> = Arc::from(app.id.as_str());
    let mut out = Map::new();
    for attr in info {
        match attr.as_str() {
            "user_count" if channel.is_presence() => {
                out.insert(attr.clone(), json!(state.hub.channels.member_count(&app_id, channel)));
            }
            "user_count" => return Err(ApiError::bad("info=user_count applies to presence channels only")),
            "subscription_count" if !app.settings.subscription_count => {
                return Err(ApiError::bad(
                    "info=subscription_count needs subscription counting enabled for this app",
                ))
            }
            "subscription_count" => {
                let counts = state.nodes.channel_counts(&app_id, Some(channel)).await;
                out.insert(attr.clone(), json!(counts.get(channel).copied().unwrap_or(0)));
            }
            "cache" if channel.is_cache() => {
                if let Some(hit) = state.hub.cached(&ChannelKey::of(&app_id, channel)) {
                    let cache = json!({ "data": hit.data, "event": hit.event, "ttl": hit.ttl_left(Instant::now()) });
                    out.insert(attr.clone(), cache);
                }
            }
            "cache" => return Err(ApiError::bad("info=cache applies to cache channels only")),
            other => return Err(ApiError::bad(format!("Unknown info attribute {other:?}"))),
        }
    }
    Ok(Value::Object(out))
}
