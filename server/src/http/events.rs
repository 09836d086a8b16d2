//! `POST /apps/{id}/events` and `POST /apps/{id}/batch_events`: validate, then publish to each channel.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::channels::info_attributes;
use super::error::ApiError;
use super::signed::Signed;
use crate::bus::StoreOptions;
use crate::clock::unix_secs;
use crate::history::Retention;
use crate::lifecycle::{preview, EventKind, LifecycleEvent};
use crate::message::{ChannelMessage, MessageData, Origin};
use crate::protocol::{ChannelKind, ChannelName, EventName, SocketId};
use crate::state::AppState;
use crate::store::App;

/// Channels one event may go to.
pub const MAX_CHANNELS: usize = 100;
/// Events one batch may hold.
pub const MAX_BATCH: usize = 10;
/// Bytes an idempotency key may have.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// One event as the HTTP API takes it.
#[derive(Deserialize)]
pub struct EventRequest {
    name: Option<String>,
    data: Option<Value>,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    socket_id: Option<String>,
    #[serde(default)]
    info: Option<String>,
    /// Herald extension: store and deliver once however often the request is retried.
    #[serde(default)]
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
pub struct BatchRequest {
    batch: Vec<EventRequest>,
}

/// An event that passed validation.
struct ValidEvent {
    name: EventName,
    data: String,
    channels: Vec<ChannelName>,
    exclude: Option<SocketId>,
    info: Vec<String>,
    idempotency_key: Option<String>,
}

/// Which publish request a handler serves.
#[derive(Clone, Copy)]
enum Publish {
    Events,
    Batch,
}

pub async fn trigger(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    signed: Result<Signed, ApiError>,
) -> Result<Json<Value>, ApiError> {
    handle(&state, &app_id, signed, Publish::Events).await
}

pub async fn batch(
    State(state): State<AppState>,
    Path(app_id): Path<String>,
    signed: Result<Signed, ApiError>,
) -> Result<Json<Value>, ApiError> {
    handle(&state, &app_id, signed, Publish::Batch).await
}

/// Serves a publish request, timing it and adding it to the lifecycle log (refusals too, including
/// a bad signature).
async fn handle(
    state: &AppState,
    app_id: &str,
    signed: Result<Signed, ApiError>,
    kind: Publish,
) -> Result<Json<Value>, ApiError> {
    let started = std::time::Instant::now();
    let result = match (&signed, kind) {
        (Ok(signed), Publish::Events) => trigger_signed(state, signed).await,
        (Ok(signed), Publish::Batch) => batch_signed(state, signed).await,
        (Err(e), _) => Err(e.clone()),
    };
    state.events.metrics().observe_publish(started.elapsed().as_secs_f64());
    record(state, app_id, signed.ok().as_ref(), result.as_ref().map(|(_, n)| *n));
    result.map(|(json, _)| json)
}

/// Adds the publish to the lifecycle log: accepted (how many messages, how many bytes, the start of
/// the body unless the app switched previews off) or refused (status and why).
fn record(state: &AppState, app_id: &str, signed: Option<&Signed>, result: Result<usize, &ApiError>) {
    // Requests naming no app of this installation are not any app's events.
    if state.apps.by_id(app_id).is_none() {
        return;
    }
    let bytes = signed.map(|s| s.body.len()).unwrap_or(0);
    let event = match result {
        Ok(messages) => {
            let preview = signed
                .filter(|s| s.app.settings.log_payload_previews)
                .map(|s| preview(&String::from_utf8_lossy(&s.body), 100));
            LifecycleEvent::new(EventKind::PublishAccepted, app_id)
                .code(200)
                .detail(json!({ "messages": messages, "bytes": bytes, "preview": preview }))
        }
        Err(e) => LifecycleEvent::new(EventKind::PublishRefused, app_id)
            .code(e.status().as_u16())
            .reason(e.to_string())
            .detail(json!({ "bytes": bytes })),
    };
    state.events.record(event);
}

async fn trigger_signed(state: &AppState, signed: &Signed) -> Result<(Json<Value>, usize), ApiError> {
    let request: EventRequest = signed.json()?;
    let header_key = header_key(signed)?;
    let mut event = validate(&signed.app, request)?;
    event.idempotency_key = event.idempotency_key.or(header_key);
    take_quota(state, &signed.app, &[&event])?;
    publish(state, &signed.app, &event).await?;
    let messages = event.channels.len();
    if event.info.is_empty() {
        return Ok((Json(json!({})), messages));
    }
    let mut channels = Map::new();
    for channel in &event.channels {
        channels.insert(
            channel.to_string(),
            info_attributes(state, &signed.app, channel, &event.info).await?,
        );
    }
    Ok((Json(json!({ "channels": channels })), messages))
}

async fn batch_signed(state: &AppState, signed: &Signed) -> Result<(Json<Value>, usize), ApiError> {
    let request: BatchRequest = signed.json()?;
    if request.batch.len() > MAX_BATCH {
        return Err(ApiError::bad(format!(
            "Batch has {} events; the limit is {MAX_BATCH}",
            request.batch.len()
        )));
    }
    let mut events = Vec::with_capacity(request.batch.len());
    let header_key = header_key(signed)?;
    for (i, item) in request.batch.into_iter().enumerate() {
        let mut event = validate(&signed.app, item).map_err(|e| match e {
            ApiError::BadRequest(m) => ApiError::bad(format!("batch[{i}]: {m}")),
            other => other,
        })?;
        if event.channels.len() != 1 {
            return Err(ApiError::bad(format!(
                "batch[{i}]: each batch event takes exactly one channel"
            )));
        }
        // A request-wide key stands for each event of the batch by its index.
        if event.idempotency_key.is_none() {
            event.idempotency_key = header_key.as_ref().map(|k| format!("{k}:{i}"));
        }
        events.push(event);
    }
    take_quota(state, &signed.app, &events.iter().collect::<Vec<_>>())?;
    for event in &events {
        publish(state, &signed.app, event).await?;
    }
    let messages = events.len();
    if events.iter().all(|e| e.info.is_empty()) {
        return Ok((Json(json!({})), messages));
    }
    let mut results = Vec::with_capacity(events.len());
    for event in &events {
        let attrs = match event.info.is_empty() {
            true => json!({}),
            false => info_attributes(state, &signed.app, &event.channels[0], &event.info).await?,
        };
        results.push(attrs);
    }
    Ok((Json(json!({ "batch": results })), messages))
}

fn validate(app: &App, request: EventRequest) -> Result<ValidEvent, ApiError> {
    let name = EventName::parse(
        request
            .name
            .as_deref()
            .ok_or_else(|| ApiError::bad("Missing event name: set \"name\""))?,
    )?;
    let data = match request.data {
        Some(Value::String(s)) => s,
        Some(other) => other.to_string(),
        None => return Err(ApiError::bad("Missing data: set \"data\" (a string)")),
    };
    let limit = app.settings.max_payload_bytes as usize;
    if data.len() > limit {
        return Err(ApiError::PayloadTooLarge {
            size: data.len(),
            limit,
        });
    }
    let raw_channels = match (request.channels, request.channel) {
        (Some(list), None) => list,
        (None, Some(one)) => vec![one],
        (Some(_), Some(_)) => return Err(ApiError::bad("Give either \"channels\" or \"channel\", not both")),
        (None, None) => {
            return Err(ApiError::bad(
                "Missing channels: set \"channels\" (a list) or \"channel\"",
            ))
        }
    };
    if raw_channels.is_empty() || raw_channels.len() > MAX_CHANNELS {
        let n = raw_channels.len();
        return Err(ApiError::bad(format!(
            "An event goes to 1 to {MAX_CHANNELS} channels; this one has {n}"
        )));
    }
    let channels = raw_channels
        .iter()
        .map(|c| ChannelName::parse(c).map_err(|e| ApiError::bad(format!("Invalid channel {c:?}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    if channels.len() > 1 && channels.iter().any(|c| c.kind() == ChannelKind::Encrypted) {
        return Err(ApiError::bad(
            "Encrypted channels cannot be triggered together with other channels",
        ));
    }
    let exclude = match request.socket_id.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            SocketId::parse(raw)
                .ok_or_else(|| ApiError::bad(format!("Invalid socket_id {raw:?}: expected digits.digits")))?,
        ),
    };
    let info = request
        .info
        .map(|s| {
            s.split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let idempotency_key = checked_key(request.idempotency_key, "idempotency_key")?;
    Ok(ValidEvent {
        name,
        data,
        channels,
        exclude,
        info,
        idempotency_key,
    })
}

/// The `Idempotency-Key` header, checked.
fn header_key(signed: &Signed) -> Result<Option<String>, ApiError> {
    checked_key(signed.idempotency_key.clone(), "Idempotency-Key header")
}

fn checked_key(key: Option<String>, what: &str) -> Result<Option<String>, ApiError> {
    match key {
        Some(k) if k.is_empty() || k.len() > MAX_IDEMPOTENCY_KEY => Err(ApiError::bad(format!(
            "Invalid {what}: give 1 to {MAX_IDEMPOTENCY_KEY} bytes"
        ))),
        other => Ok(other),
    }
}

/// Counts `events` against the tenant's daily message quota, all or nothing.
fn take_quota(state: &AppState, app: &App, events: &[&ValidEvent]) -> Result<(), ApiError> {
    let limit = state
        .apps
        .tenant(&app.tenant_id)
        .map(|t| t.limits.max_messages_per_day)
        .unwrap_or(0);
    let messages: usize = events.iter().map(|e| e.channels.len()).sum();
    if !state
        .quota
        .try_take(&app.tenant_id, messages as i64, limit, unix_secs())
    {
        return Err(ApiError::Forbidden(format!(
            "Over quota: this app's tenant may publish {limit} messages a day"
        )));
    }
    Ok(())
}

async fn publish(state: &AppState, app: &App, event: &ValidEvent) -> Result<(), ApiError> {
    let app_id: Arc<str> = Arc::from(app.id.as_str());
    let options = StoreOptions {
        idempotency_key: event.idempotency_key.clone(),
        dedup_window_ms: app.settings.idempotency_window as i64 * 1000,
        retention: Some(Retention::of(app)),
    };
    for channel in &event.channels {
        let mut message = ChannelMessage::new(
            app_id.clone(),
            channel.clone(),
            event.name.as_str().to_string(),
            MessageData::Text(event.data.clone()),
            Origin::Api,
        );
        message.exclude = event.exclude.clone();
        state
            .publisher
            .publish(message, &options)
            .await
            .map_err(|e| ApiError::Unavailable(format!("Event not published, retry: {e}")))?;
    }
    Ok(())
}
